"""Every attempt checks its target again and connects to the address it checked: a name rebound
to an internal address after it was saved is refused, the delivery fails with the reason and the
internal service is never contacted; a redirect's answer is not kept."""

import ssl
import subprocess

import pytest
from django.urls import reverse
from pytest_httpserver import HTTPServer
from werkzeug import Response

from cases.services import incident_transition
from tests.factories import IncidentFactory, WebhookSubscriptionFactory
from webhooks import delivery as delivery_module
from webhooks.delivery import webhook_deliver
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_subscription_create

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status
EVENTS = ["incident.status_changed"]


def one_delivery(analyst) -> WebhookDelivery:
    incident = IncidentFactory()
    incident_transition(incident=incident, actor=analyst, to="triaging")
    return WebhookDelivery.objects.get(payload__incident__reference=incident.reference)


def received(server):
    return [request for request, _response in server.log]


def test_a_target_refused_at_send_time_fails_at_once_and_is_never_contacted(
    httpserver, partner_manager, analyst, settings, fast_retries
):
    hook = WebhookSubscriptionFactory(owner=partner_manager, url=httpserver.url_for("/hook"), events=EVENTS)
    httpserver.expect_request("/hook").respond_with_data("+OK internal answer", status=200)
    delivery = one_delivery(analyst)
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = []  # saved while allowed, refused by the time it is sent

    assert webhook_deliver(delivery_id=delivery.pk) == "failed"
    assert webhook_deliver(delivery_id=delivery.pk) == "skipped"  # not retried

    assert received(httpserver) == []
    delivery.refresh_from_db()
    reason = (
        "“localhost” is a local or internal name; PayHealth sends webhooks to public hosts only."
        " An administrator can allow it in PAYHEALTH_WEBHOOK_ALLOWED_HOSTS."
    )
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        Status.FAILED,
        1,
        None,
        reason,
    )
    [attempt] = delivery.attempt_log.all()
    assert (attempt.response_status, attempt.response_body, attempt.error, attempt.request_headers) == (
        None,
        "",
        reason,
        {},
    )
    hook.refresh_from_db()
    assert hook.consecutive_failures == 1


def test_a_name_rebound_to_loopback_after_it_was_saved_is_refused(
    httpserver, partner_manager, analyst, no_allowed_hosts, dns, fast_retries
):
    dns["receiver.example.test"] = ["93.184.215.14"]
    hook = webhook_subscription_create(
        actor=partner_manager,
        name="Rebinding",
        url=f"http://receiver.example.test:{httpserver.port}/hook",
        events=EVENTS,
    )
    httpserver.expect_request("/hook").respond_with_data("internal secrets", status=200)
    delivery = one_delivery(analyst)
    dns["receiver.example.test"] = ["127.0.0.1"]  # where the internal service listens

    assert webhook_deliver(delivery_id=delivery.pk) == "failed"

    assert received(httpserver) == []
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.last_error.startswith("“receiver.example.test” resolves to a loopback address;")
    assert delivery.attempt_log.get().response_body == ""
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (True, 1)


def test_the_connection_goes_to_the_checked_address_with_the_name_in_the_host_header(
    httpserver, partner_manager, analyst, settings, dns, fast_retries
):
    """The system resolver knows no receiver.example.test: the request reaches the receiver only
    through the address the check resolved, and the receiver still sees its own name."""
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    dns["receiver.example.test"] = ["127.0.0.1"]
    WebhookSubscriptionFactory(
        owner=partner_manager, url=f"http://receiver.example.test:{httpserver.port}/hook?v=2", events=EVENTS
    )
    httpserver.expect_request("/hook", query_string="v=2").respond_with_data("ok")
    delivery = one_delivery(analyst)

    assert webhook_deliver(delivery_id=delivery.pk) == "succeeded"

    [request] = received(httpserver)
    assert request.headers["Host"] == f"receiver.example.test:{httpserver.port}"


def test_a_redirect_is_not_followed_and_nothing_of_its_answer_is_kept(
    httpserver, partner_manager, analyst, fast_retries
):
    WebhookSubscriptionFactory(owner=partner_manager, url=httpserver.url_for("/hook"), events=EVENTS)
    httpserver.expect_request("/hook").respond_with_response(
        Response("root:x:0:0:root:/root:/bin/bash", status=307, headers={"Location": "http://127.0.0.1:6379/"})
    )
    delivery = one_delivery(analyst)

    assert webhook_deliver(delivery_id=delivery.pk) == "failed"

    assert [r.path for r in received(httpserver)] == ["/hook"]
    attempt = WebhookDelivery.objects.get(pk=delivery.pk).attempt_log.get()
    assert (attempt.response_status, attempt.response_body) == (307, "")
    assert attempt.error == "HTTP 307 TEMPORARY REDIRECT: redirects are not followed."


def test_the_delivery_log_shows_the_refusal_and_no_answer(
    client, httpserver, partner_manager, analyst, settings, fast_retries
):
    hook = WebhookSubscriptionFactory(owner=partner_manager, url=httpserver.url_for("/hook"), events=EVENTS)
    httpserver.expect_request("/hook").respond_with_data("+OK internal answer", status=200)
    delivery = one_delivery(analyst)
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = []
    webhook_deliver(delivery_id=delivery.pk)
    client.force_login(partner_manager)

    page = client.get(reverse("webhooks:subscription_detail", args=[hook.pk])).content.decode()

    assert "is a local or internal name; PayHealth sends webhooks to public hosts only." in page
    assert "internal answer" not in page


# Over TLS ------------------------------------------------------------------------------------


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A throw-away authority and a certificate it signed for receiver.example.test."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca, key, request, certificate, names = (
        folder / name for name in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem", "san.ext")
    )
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=PayHealth test CA",
        "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    names.write_text("subjectAltName=DNS:receiver.example.test\n")
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=receiver.example.test",
        "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "1", "-extfile", str(names), "-out", str(certificate),
    )  # fmt: skip
    return {"ca": str(ca), "certificate": str(certificate), "key": str(key)}


@pytest.fixture
def tls_receiver(certificates, monkeypatch):
    """An HTTPS receiver on loopback that notes the server name each client asked for, and a
    client that trusts the test authority (instead of the system's)."""
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates["certificate"], certificates["key"])
    context.sni_callback = lambda _sock, name, _context: server_names.append(name)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.start()
    trusting = ssl.create_default_context(cafile=certificates["ca"])
    monkeypatch.setattr(delivery_module, "tls_context", lambda: trusting)
    try:
        yield server, server_names
    finally:
        server.clear()
        server.stop()


def test_over_tls_the_checked_address_is_used_and_the_certificate_is_checked_for_the_name(
    tls_receiver, partner_manager, analyst, settings, dns, fast_retries
):
    server, server_names = tls_receiver
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    dns["receiver.example.test"] = ["127.0.0.1"]
    dns["other.example.test"] = ["127.0.0.1"]
    WebhookSubscriptionFactory(
        owner=partner_manager, url=f"https://receiver.example.test:{server.port}/hook", events=EVENTS
    )
    other = WebhookSubscriptionFactory(
        owner=partner_manager, url=f"https://other.example.test:{server.port}/hook", events=EVENTS
    )
    server.expect_request("/hook").respond_with_data("ok")
    incident = IncidentFactory()
    incident_transition(incident=incident, actor=analyst, to="triaging")
    good = WebhookDelivery.objects.exclude(subscription=other).get()
    wrong_name = WebhookDelivery.objects.get(subscription=other)

    assert webhook_deliver(delivery_id=good.pk) == "succeeded"
    with pytest.raises(delivery_module.WebhookRetry):
        webhook_deliver(delivery_id=wrong_name.pk)

    assert server_names == ["receiver.example.test", "other.example.test"]
    assert [r.headers["Host"] for r, _response in server.log] == [f"receiver.example.test:{server.port}"]
    wrong_name.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in wrong_name.last_error


def test_the_upgrade_cuts_what_earlier_versions_kept_of_answers(no_allowed_hosts):
    """Earlier versions kept 4 KB of any answer, internal services' included."""
    import importlib
    import uuid

    from django.apps import apps

    migration = importlib.import_module("webhooks.migrations.0003_attempt_body_limit")
    internal = WebhookSubscriptionFactory(url="http://127.0.0.1:6379/")  # saved before the check existed
    public = WebhookSubscriptionFactory(url="https://hooks.partner.example/in")

    def attempt(subscription, status, body):
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event_type="ping", event_id=uuid.uuid4(), payload={}
        )
        return delivery.attempt_log.create(number=1, response_status=status, response_body=body)

    kept = [
        attempt(internal, 200, "# Server\nredis_version:7.2.4"),
        attempt(public, 302, "<a href='http://10.0.0.1/'>moved</a>"),
        attempt(public, 400, "e" * 4096),
        attempt(public, 200, "thanks"),
    ]

    migration.cut_kept_answers(apps, None)

    bodies = [type(row).objects.get(pk=row.pk).response_body for row in kept]
    assert bodies == ["", "", "e" * 512, "thanks"]
