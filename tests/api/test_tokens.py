"""Personal API tokens: created once, stored hashed, act as their user, revoked at once; and the
API's shared parts (one error format, per-action permissions that fail closed, throttling)."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.urls import path, reverse
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import ApiToken, Profile
from accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from tests.factories import UserFactory


def bearer(plain: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def test_a_token_is_stored_as_a_digest_never_in_clear(analyst):
    token, plain = api_token_create(user=analyst, name="monitoring")

    assert plain.startswith(f"ph_{token.prefix}_")
    secret = plain.split("_", 2)[2]
    assert len(secret) >= 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored.digest and secret not in str(stored.__dict__)


def test_a_token_acts_as_its_user_with_their_roles(analyst):
    _token, plain = api_token_create(user=analyst, name="script")

    response = bearer(plain).get(reverse("api:me"))

    assert response.status_code == 200
    assert response.json()["username"] == analyst.username
    assert response.json()["roles"] == ["analyst"]


def test_a_token_is_read_with_its_user_profile_roles_and_permissions_in_one_query(analyst, django_assert_num_queries):
    Profile.objects.update_or_create(user=analyst, defaults={"timezone": "Europe/Madrid", "language": "es"})
    analyst.user_permissions.add(Permission.objects.get(codename="view_logentry"))  # one of the user's own
    _token, plain = api_token_create(user=analyst, name="monitoring")
    api_token_authenticate(plain)  # its first use writes last_used_at; the next ones only read

    with django_assert_num_queries(1):
        user = api_token_authenticate(plain).user
    with django_assert_num_queries(0):
        assert user == analyst and user.profile.timezone == "Europe/Madrid"
        assert [group.name for group in user.groups.all()] == ["analyst"]
        assert user.has_perm("cases.change_incident") and user.has_perm("admin.view_logentry")
        assert not user.has_perm("accounts.change_user")
    assert user.get_all_permissions() == analyst.get_all_permissions()  # as Django reads them itself

    root = UserFactory(username="root-token", is_superuser=True)
    _token, plain = api_token_create(user=root, name="admin script")
    assert api_token_authenticate(plain).user.get_all_permissions() == {
        f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
    }
    root.is_active = False
    root.save(update_fields=["is_active"])
    assert bearer(plain).get(reverse("api:me")).status_code == 401


def test_a_wrong_or_revoked_token_is_refused_with_the_error_format(analyst, lead):
    token, plain = api_token_create(user=analyst, name="script")
    wrong = plain[:-4] + ("aaaa" if not plain.endswith("aaaa") else "bbbb")

    assert bearer(wrong).get(reverse("api:me")).status_code == 401
    with pytest.raises(PermissionDenied):
        api_token_revoke(token=token, actor=lead)  # only the owner
    api_token_revoke(token=token, actor=analyst)
    response = bearer(plain).get(reverse("api:me"))

    assert response.status_code == 401
    assert response.json() == {
        "error": {"status": 401, "code": "authentication_failed", "message": "Invalid or revoked token."}
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert api_token_authenticate(plain) is None


def test_anonymous_gets_401_not_a_login_redirect(client, db):
    response = client.get(reverse("api:me"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_token_names_are_unique_among_active_tokens_only(analyst):
    first, _plain = api_token_create(user=analyst, name="ci")
    with pytest.raises(ValidationError) as error:
        api_token_create(user=analyst, name="ci")
    assert error.value.message_dict == {"name": ["You already have an active token with this name."]}
    api_token_revoke(token=first, actor=analyst)

    again, _plain = api_token_create(user=analyst, name="ci")

    assert again.pk != first.pk
    with pytest.raises(ValidationError) as error:
        api_token_create(user=analyst, name="   ")
    assert "name" in error.value.message_dict


def test_tokens_api_creates_lists_and_revokes_only_your_own(analyst, lead):
    client = APIClient()
    client.force_authenticate(analyst)

    created = client.post(reverse("api:token-list"), {"name": "grafana"}, format="json")
    assert created.status_code == 201
    plain = created.json()["token"]
    assert bearer(plain).get(reverse("api:me")).json()["username"] == analyst.username
    listed = client.get(reverse("api:token-list")).json()["results"]
    assert [row["name"] for row in listed] == ["grafana"]
    assert "token" not in listed[0] and "digest" not in listed[0]

    other = APIClient()
    other.force_authenticate(lead)
    assert other.post(reverse("api:token-revoke", args=[created.json()["id"]])).status_code == 404
    assert bearer(plain).get(reverse("api:me")).status_code == 200

    revoked = client.post(reverse("api:token-revoke", args=[created.json()["id"]]))
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert bearer(plain).get(reverse("api:me")).status_code == 401


def test_validation_errors_name_the_field(analyst):
    client = APIClient()
    client.force_authenticate(analyst)

    response = client.post(reverse("api:token-list"), {"name": ""}, format="json")

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert body["fields"] == {"name": ["This field may not be blank."]}
    assert body["message"] == "name: This field may not be blank."


def test_tokens_page_shows_a_new_token_once_and_revokes(client, analyst):
    client.force_login(analyst)

    page = client.post(reverse("api_tokens"), {"name": "alerts job"})

    assert page.status_code == 200
    token = ApiToken.objects.get(user=analyst, name="alerts job")
    plain = page.context["created"]["plain"]
    assert plain.startswith(f"ph_{token.prefix}_") and plain in page.content.decode()
    again = client.get(reverse("api_tokens")).content.decode()
    assert plain not in again and f"ph_{token.prefix}_" in again

    assert client.post(reverse("api_tokens"), {"name": ""}).status_code == 400
    client.post(reverse("api_token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_tokens_page_revoke_is_post_only_and_private(client, analyst, lead):
    token, _plain = api_token_create(user=analyst, name="private")
    client.force_login(lead)

    assert client.get(reverse("api_token_revoke", args=[token.pk])).status_code == 405
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    client.logout()
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


# A view with one listed action and one unlisted: the unlisted one must be refused.
class _Probe(APIView):
    action_permissions = {"get": ()}

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):  # not in action_permissions: fails closed
        return Response({"written": True})


class _Unlisted(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("probe/", _Probe.as_view()), path("unlisted/", _Unlisted.as_view())]


@override_settings(ROOT_URLCONF=__name__)
def test_actions_not_listed_are_refused(lead):
    client = APIClient()
    client.force_authenticate(lead)

    assert client.get("/probe/").status_code == 200
    refused = client.post("/probe/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert client.get("/unlisted/").status_code == 403
    assert client.put("/probe/", {}, format="json").status_code == 405  # no handler: 405, not a 403
    assert APIClient().put("/probe/", {}, format="json").status_code == 401  # anonymous learns nothing more


@override_settings(ROOT_URLCONF=__name__)
def test_throttling_is_per_token(analyst, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "3/min", "user": "50/min", "anon": "50/min"})
    cache.clear()
    _t1, first = api_token_create(user=analyst, name="one")
    _t2, second = api_token_create(user=analyst, name="two")
    try:
        codes = [bearer(first).get("/probe/").status_code for _ in range(4)]
        other = bearer(second).get("/probe/")
        limited = bearer(first).get("/probe/")
    finally:
        cache.clear()

    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200  # its own budget
    assert limited.json()["error"]["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0


@override_settings(ROOT_URLCONF=__name__)
def test_wrong_tokens_count_against_the_anonymous_rate_of_their_address(analyst, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"token": "50/min", "user": "50/min", "anon": "3/min"})
    _token, plain = api_token_create(user=analyst, name="real")
    guess = f"ph_{'0' * 8}_{'x' * 43}"

    codes = [bearer(guess).get("/probe/").status_code for _ in range(4)]
    limited = bearer(guess).get("/probe/")
    elsewhere = bearer(guess).get("/probe/", REMOTE_ADDR="198.51.100.4")
    real = bearer(plain).get("/probe/")

    assert codes == [401, 401, 401, 429]
    assert limited.json()["error"]["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    assert elsewhere.status_code == 401  # another address has its own budget
    assert real.status_code == 200  # a real token from the throttled address still works


def test_tokens_page_refuses_a_card_number_in_a_name_and_shows_it_masked(client, analyst):
    client.force_login(analyst)

    page = client.post(reverse("api_tokens"), {"name": "job 4111-1111-1111-1111"})

    html = page.content.decode()
    assert page.status_code == 400
    assert "Card numbers are never stored" in html
    assert "4111-1111-1111-1111" not in html and 'value="job 411111******1111"' in html
    assert not ApiToken.objects.filter(user=analyst).exists()
