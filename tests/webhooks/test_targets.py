"""Webhooks go to public hosts only: internal targets are refused when a subscription is saved,
on the page, in the API and in the admin, unless PAYHEALTH_WEBHOOK_ALLOWED_HOSTS names them."""

import ipaddress

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.factories import WebhookSubscriptionFactory
from webhooks.models import WebhookSubscription
from webhooks.services import webhook_subscription_create, webhook_subscription_update
from webhooks.targets import address_kind

pytestmark = pytest.mark.django_db
EVENTS = ["incident.opened"]

# What an attacker registered: the services beside PayHealth, cloud metadata, private networks,
# and the same addresses spelled as IPv6.
INTERNAL_URLS = [
    "http://127.0.0.1:6379/",
    "http://localhost:5432/",
    "http://[::1]:8000/",
    "http://0.0.0.0:8000/",
    "http://[::]:8000/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.100.100.200/latest/meta-data/",
    "http://10.0.0.5/",
    "http://172.16.0.1:9200/",
    "http://192.168.1.10:8080/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.10/",
    "http://[::ffff:127.0.0.1]:6379/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://app.localhost/",
    "http://printer.local/",
    "http://router.home.arpa/",
    "https://vault.corp.internal/",
]


def refusal(url: str, actor) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        webhook_subscription_create(actor=actor, name="Probe", url=url, events=EVENTS)
    return refused.value


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_an_internal_target_is_refused_with_a_url_error_and_nothing_is_saved(
    url, partner_manager, no_allowed_hosts, dns
):
    error = refusal(url, partner_manager)

    assert [e.code for e in error.error_dict["url"]] == ["refused_target"]
    assert "PayHealth sends webhooks to public" in error.message_dict["url"][0]
    assert WebhookSubscription.objects.count() == 0


@pytest.mark.parametrize(
    ("addresses", "kind"),
    [
        (["127.0.0.1"], "loopback"),
        (["10.20.30.40"], "private"),
        (["169.254.169.254"], "link-local"),
        (["93.184.215.14", "192.168.0.7"], "private"),  # one bad address is enough: either may be used
        (["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::1"], "loopback"),
    ],
)
def test_a_name_that_resolves_to_an_internal_address_is_refused(
    addresses, kind, partner_manager, no_allowed_hosts, dns
):
    dns["hooks.attacker.example"] = addresses

    error = refusal("https://hooks.attacker.example/in", partner_manager)

    assert error.message_dict["url"] == [
        f"“hooks.attacker.example” resolves to a {kind} address; PayHealth sends webhooks to public addresses"
        " only. An administrator can allow it in PAYHEALTH_WEBHOOK_ALLOWED_HOSTS."
    ]
    assert WebhookSubscription.objects.count() == 0


def test_the_refusal_names_no_internal_address(partner_manager, no_allowed_hosts, dns):
    """The subscriber learns that the name is internal, not where it points."""
    dns["db.attacker.example"] = ["10.20.30.40"]

    error = refusal("https://db.attacker.example/", partner_manager)

    assert "10.20.30.40" not in str(error)


def test_public_hosts_and_names_not_resolvable_yet_are_accepted(partner_manager, no_allowed_hosts, dns):
    dns["hooks.partner.example"] = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    for url in ("https://hooks.partner.example/in", "https://8.8.8.8/in", "https://not-deployed-yet.example/in"):
        webhook_subscription_create(actor=partner_manager, name=url, url=url, events=EVENTS)

    assert WebhookSubscription.objects.count() == 3


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (["localhost"], "http://localhost:8000/hook"),
        (["127.0.0.1"], "http://127.0.0.1:8000/hook"),
        (["10.0.0.0/8"], "http://10.1.2.3/hook"),
        (["10.0.0.0/8"], "http://hooks.corp.example/hook"),  # resolves into the listed network
        (["hooks.corp.example"], "http://hooks.corp.example/hook"),
        ([".corp.example"], "http://hooks.corp.example/hook"),
        (["[fd00::]/8"], "http://[fd12::1]/hook"),
        (["metadata.google.internal"], "http://metadata.google.internal/"),
    ],
)
def test_the_allow_list_admits_what_it_names(settings, partner_manager, dns, allowed, url):
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = allowed
    dns["hooks.corp.example"] = ["10.9.8.7"]

    hook = webhook_subscription_create(actor=partner_manager, name="Internal", url=url, events=EVENTS)

    assert hook.url == url


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (["127.0.0.1"], "http://10.1.2.3/hook"),
        (["10.0.0.0/24"], "http://10.0.1.1/hook"),
        (["corp.example"], "http://hooks.corp.example/hook"),  # a name, not its subdomains
        ([".corp.example"], "http://hooks.corp.example.evil.example/hook"),
    ],
)
def test_the_allow_list_admits_nothing_else(settings, partner_manager, dns, allowed, url):
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = allowed
    dns["hooks.corp.example"] = ["10.9.8.7"]
    dns["hooks.corp.example.evil.example"] = ["10.9.8.7"]

    refusal(url, partner_manager)

    assert WebhookSubscription.objects.count() == 0


def test_an_edit_to_an_internal_target_is_refused_and_keeps_the_old_url(partner_manager, no_allowed_hosts, dns):
    hook = WebhookSubscriptionFactory(owner=partner_manager, url="https://hooks.partner.example/in")

    with pytest.raises(ValidationError) as refused:
        webhook_subscription_update(
            subscription=hook, actor=partner_manager, name="Probe", url="http://127.0.0.1:6379/", events=EVENTS
        )

    assert set(refused.value.message_dict) == {"url"}
    hook.refresh_from_db()
    assert (hook.name, hook.url) == (hook.name, "https://hooks.partner.example/in")


@pytest.mark.parametrize(
    ("language", "message"),
    [
        (
            "en",
            "“169.254.169.254” is a link-local address; PayHealth sends webhooks to public addresses only.",
        ),
        (
            "es",
            "“169.254.169.254” es una dirección local de enlace; PayHealth solo envía webhooks a direcciones públicas.",
        ),
    ],
)
def test_the_page_shows_the_refusal_on_the_url_field_in_the_users_language(
    client, partner_manager, no_allowed_hosts, language, message
):
    client.force_login(partner_manager)

    response = client.post(
        reverse("webhooks:subscription_create"),
        {"name": "Metadata", "url": "http://169.254.169.254/latest/meta-data/", "events": EVENTS},
        HTTP_ACCEPT_LANGUAGE=language,
    )

    assert response.status_code == 400
    [error] = response.context["form"].errors["url"]
    assert error.startswith(message)
    assert message in response.content.decode().replace("&#x27;", "'")
    assert WebhookSubscription.objects.count() == 0


@pytest.mark.parametrize(
    ("language", "message"),
    [
        (
            "en",
            "“localhost” is a local or internal name; PayHealth sends webhooks to public hosts only."
            " An administrator can allow it in PAYHEALTH_WEBHOOK_ALLOWED_HOSTS.",
        ),
        (
            "es",
            "“localhost” es un nombre local o interno; PayHealth solo envía webhooks a hosts públicos."
            " Un administrador puede permitirlo en PAYHEALTH_WEBHOOK_ALLOWED_HOSTS.",
        ),
    ],
)
def test_the_api_answers_400_with_the_url_field_message_in_the_callers_language(
    partner_manager, no_allowed_hosts, language, message
):
    client = APIClient()
    _token, plain = api_token_create(user=partner_manager, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")

    response = client.post(
        "/api/v1/webhooks/subscriptions/",
        {"name": "Postgres", "url": "http://localhost:5432/", "events": EVENTS},
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"url": [message]}
    assert WebhookSubscription.objects.count() == 0


def test_the_admin_refuses_an_internal_target_too(admin_client, no_allowed_hosts):
    response = admin_client.post(
        reverse("admin:webhooks_webhooksubscription_add"),
        {"name": "Redis", "url": "http://127.0.0.1:6379/", "events": EVENTS},
    )

    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert WebhookSubscription.objects.count() == 0


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),  # IPv4-mapped: judged as the IPv4 address it carries
        ("2002:808:808::", None),  # 6to4 of 8.8.8.8
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
        ("127.0.0.53", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.0.1", "link-local"),
        ("fe80::abcd", "link-local"),
        ("172.31.255.255", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("fec0::1", "private"),
        ("239.255.255.250", "multicast"),
        ("ff05::2", "multicast"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("100::1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:a9fe:a9fe::1", "link-local"),
    ],
)
def test_each_address_is_judged_by_what_it_reaches(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind
