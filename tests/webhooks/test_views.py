"""The webhook pages: who may open them, create and edit, reveal and rotate, test, replay, re-enable."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory, WebhookSubscriptionFactory
from webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_hook(partner_manager):
    return WebhookSubscriptionFactory(owner=partner_manager, name="Chat bot", url="https://chat.example.test/in")


def test_analysts_may_not_open_or_change_webhooks(client, analyst, own_hook):
    client.force_login(analyst)

    assert client.get(reverse("webhooks:subscription_list")).status_code == 403
    assert client.get(reverse("webhooks:subscription_detail", args=[own_hook.pk])).status_code == 403
    response = client.post(
        reverse("webhooks:subscription_create"), {"name": "x", "url": "https://x.test", "events": ["sla.breach"]}
    )
    assert response.status_code == 403
    assert client.post(reverse("webhooks:subscription_delete", args=[own_hook.pk])).status_code == 403
    assert WebhookSubscription.objects.count() == 1
    assert "Webhooks" not in client.get(reverse("home")).content.decode()


def test_a_partner_manager_creates_a_webhook_and_sees_its_secret_once(client, partner_manager):
    client.force_login(partner_manager)

    response = client.post(
        reverse("webhooks:subscription_create"),
        {"name": "Tickets", "url": "https://tickets.example.test/hook", "events": ["incident.opened", "sla.breach"]},
    )

    hook = WebhookSubscription.objects.get()
    assert (hook.owner, hook.name, hook.events, hook.active) == (
        partner_manager,
        "Tickets",
        ["incident.opened", "sla.breach"],
        True,
    )
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40
    assert hook.secret in response.content.decode()
    page = client.get(reverse("webhooks:subscription_detail", args=[hook.pk])).content.decode()
    assert hook.secret not in page and hook.secret_hint in page
    assert hook.secret not in client.get(reverse("webhooks:subscription_list")).content.decode()


def test_a_url_that_is_not_http_is_refused(client, partner_manager):
    client.force_login(partner_manager)

    response = client.post(
        reverse("webhooks:subscription_create"),
        {"name": "Files", "url": "ftp://files.test/x", "events": ["sla.breach"]},
    )

    assert response.status_code == 400
    assert WebhookSubscription.objects.count() == 0


def test_only_the_owner_may_reveal_or_rotate_the_secret(client, lead, partner_manager, own_hook):
    client.force_login(lead)
    assert client.get(reverse("webhooks:subscription_detail", args=[own_hook.pk])).status_code == 200  # leads see all
    assert client.post(reverse("webhooks:subscription_reveal", args=[own_hook.pk])).status_code == 403
    assert client.post(reverse("webhooks:subscription_rotate", args=[own_hook.pk])).status_code == 403

    client.force_login(partner_manager)
    revealed = client.post(reverse("webhooks:subscription_reveal", args=[own_hook.pk]))
    assert own_hook.secret in revealed.content.decode()
    rotated = client.post(reverse("webhooks:subscription_rotate", args=[own_hook.pk]))
    new_secret = WebhookSubscription.objects.get().secret
    assert new_secret != own_hook.secret and new_secret in rotated.content.decode()


def test_other_partner_managers_do_not_see_a_webhook(client, own_hook):
    client.force_login(UserFactory(username="pedro", role="partner_manager"))

    assert client.get(reverse("webhooks:subscription_detail", args=[own_hook.pk])).status_code == 404
    assert "Chat bot" not in client.get(reverse("webhooks:subscription_list")).content.decode()


def test_edit_ping_replay_and_re_enable(client, partner_manager, own_hook, django_capture_on_commit_callbacks):
    client.force_login(partner_manager)

    client.post(
        reverse("webhooks:subscription_edit", args=[own_hook.pk]),
        {"name": "Chat", "url": "https://chat.example.test/v2", "events": ["sla.warning"]},
    )
    own_hook.refresh_from_db()
    assert (own_hook.name, own_hook.url, own_hook.events) == ("Chat", "https://chat.example.test/v2", ["sla.warning"])

    with django_capture_on_commit_callbacks() as published:
        client.post(reverse("webhooks:subscription_ping", args=[own_hook.pk]))
        ping = WebhookDelivery.objects.get()
        client.post(reverse("webhooks:delivery_replay", args=[ping.pk]))
    assert len(published) == 2
    replay = WebhookDelivery.objects.exclude(pk=ping.pk).get()
    assert (replay.replay_of, replay.event_id) == (ping, ping.event_id)

    WebhookSubscription.objects.filter(pk=own_hook.pk).update(active=False, disabled_reason="Too many failures")
    page = client.get(reverse("webhooks:subscription_detail", args=[own_hook.pk])).content.decode()
    assert "Too many failures" in page
    response = client.post(reverse("webhooks:subscription_enable", args=[own_hook.pk]))
    assert response.status_code == 302
    own_hook.refresh_from_db()
    assert (own_hook.active, own_hook.disabled_reason) == (True, "")


def test_the_delivery_log_shows_each_attempt(client, partner_manager, own_hook):
    delivery = own_hook.deliveries.create(
        event_type="ping", event_id="00000000-0000-4000-8000-000000000002", payload={}, status="failed", attempts=1
    )
    delivery.attempt_log.create(number=1, response_status=418, response_body="I am a teapot", duration_ms=37)
    client.force_login(partner_manager)

    page = client.get(reverse("webhooks:subscription_detail", args=[own_hook.pk])).content.decode()

    assert "I am a teapot" in page and "418" in page and "37 ms" in page


def test_the_admin_lists_webhooks_and_shows_a_delivery_read_only(admin_client, own_hook):
    delivery = own_hook.deliveries.create(
        event_type="ping", event_id="00000000-0000-4000-8000-000000000003", payload={}, status="succeeded"
    )
    delivery.attempt_log.create(number=1, response_status=200, response_body="pong")

    listing = admin_client.get(reverse("admin:webhooks_webhooksubscription_changelist"))
    change = admin_client.get(reverse("admin:webhooks_webhooksubscription_change", args=[own_hook.pk]))
    shown = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))

    assert (listing.status_code, change.status_code, shown.status_code) == (200, 200, 200)
    assert "Chat bot" in listing.content.decode()
    assert own_hook.secret not in change.content.decode()
    assert "pong" in shown.content.decode()
