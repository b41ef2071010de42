"""/api/v1/webhooks/: subscriptions and deliveries, through the same services as the pages."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.factories import UserFactory, WebhookSubscriptionFactory
from webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhooks"


def api(user):
    client = APIClient()
    _token, plain = api_token_create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def test_create_returns_the_secret_once_and_reads_show_a_hint(partner_manager):
    client = api(partner_manager)

    created = client.post(
        f"{BASE}/subscriptions/",
        {"name": "Chat", "url": "https://chat.example.test/in", "events": ["incident.opened"]},
        format="json",
    )

    assert created.status_code == 201, created.content
    hook = WebhookSubscription.objects.get()
    assert created.json()["secret"] == hook.secret
    listed = client.get(f"{BASE}/subscriptions/").json()["results"]
    assert [row["name"] for row in listed] == ["Chat"]
    assert "secret" not in listed[0] and listed[0]["secret_hint"] == hook.secret_hint
    assert client.post(f"{BASE}/subscriptions/{hook.pk}/secret/").json() == {"secret": hook.secret}


def test_bad_input_gets_field_messages_and_writes_nothing(partner_manager):
    client = api(partner_manager)

    response = client.post(
        f"{BASE}/subscriptions/", {"name": "X", "url": "gopher://x.test", "events": []}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"url", "events"}
    assert WebhookSubscription.objects.count() == 0


def test_patch_keeps_what_is_not_sent(partner_manager):
    hook = WebhookSubscriptionFactory(owner=partner_manager, events=["sla.breach"])

    response = api(partner_manager).patch(f"{BASE}/subscriptions/{hook.pk}/", {"name": "Renamed"}, format="json")

    assert response.status_code == 200
    hook.refresh_from_db()
    assert (hook.name, hook.events) == ("Renamed", ["sla.breach"])


def test_ping_then_replay_then_read_the_delivery_with_attempts(partner_manager, django_capture_on_commit_callbacks):
    hook = WebhookSubscriptionFactory(owner=partner_manager)
    client = api(partner_manager)

    with django_capture_on_commit_callbacks() as published:
        ping = client.post(f"{BASE}/subscriptions/{hook.pk}/ping/")
        replay = client.post(f"{BASE}/deliveries/{ping.json()['id']}/replay/")

    assert (ping.status_code, replay.status_code, len(published)) == (202, 202, 2)
    assert replay.json()["replay_of"] == ping.json()["id"]
    assert replay.json()["event_id"] == ping.json()["event_id"]
    WebhookDelivery.objects.get(pk=ping.json()["id"]).attempt_log.create(number=1, response_status=200)
    detail = client.get(f"{BASE}/deliveries/{ping.json()['id']}/").json()
    assert [(a["number"], a["response_status"]) for a in detail["attempts"]] == [(1, 200)]
    listed = client.get(f"{BASE}/deliveries/", {"subscription": hook.pk}).json()["results"]
    assert [row["id"] for row in listed] == [replay.json()["id"], ping.json()["id"]]


@pytest.mark.parametrize("who", ["analyst", "outsider"])
def test_those_without_webhook_permissions_are_refused(request, partner_manager, who):
    hook = WebhookSubscriptionFactory(owner=partner_manager)
    client = api(request.getfixturevalue(who))

    assert client.get(f"{BASE}/subscriptions/").status_code == 403
    assert client.post(f"{BASE}/subscriptions/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"{BASE}/subscriptions/{hook.pk}/").status_code == 403
    assert client.get(f"{BASE}/deliveries/").status_code == 403
    assert WebhookSubscription.objects.count() == 1


def test_a_lead_sees_every_webhook_but_not_its_secret(lead, partner_manager):
    hook = WebhookSubscriptionFactory(owner=partner_manager)
    client = api(lead)

    assert [row["id"] for row in client.get(f"{BASE}/subscriptions/").json()["results"]] == [hook.pk]
    assert client.post(f"{BASE}/subscriptions/{hook.pk}/secret/").status_code == 403
    assert client.post(f"{BASE}/subscriptions/{hook.pk}/disable/").json()["active"] is False


def test_another_partner_manager_gets_404(partner_manager):
    hook = WebhookSubscriptionFactory(owner=partner_manager)
    client = api(UserFactory(username="pedro", role="partner_manager"))

    assert client.get(f"{BASE}/subscriptions/{hook.pk}/").status_code == 404
    assert client.delete(f"{BASE}/subscriptions/{hook.pk}/").status_code == 404
    assert WebhookSubscription.objects.count() == 1


def test_anonymous_gets_401():
    assert APIClient().get(f"{BASE}/subscriptions/").status_code == 401
