"""Every page and action of the desk, walked from the URL resolver, against every kind of visitor.

The endpoints come from the URL resolver (tests/urlwalk.py), not a hand-kept list, so a view
added to the desk's namespaces is checked the day it is added; its URL kwargs are filled from
one small fixture (`KWARG_VALUES`).

For a GET (permissions are enforced on the server):
- anonymous → redirect to the login page;
- signed in without a role → 403 (405 is accepted for a POST-only endpoint, whose method check
  may come first), and a POST to a POST-only endpoint → 403 with nothing written;
- analyst, partner manager, lead → 200 for a page, 405 for a POST-only endpoint; never 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.urls import reverse

from cases.correspondence.compose import notice_compose
from cases.models import (
    ActionItem,
    Attachment,
    CaseEvent,
    Correspondence,
    Incident,
    InvestigationNote,
    RcaRequest,
    SavedView,
    SlaPolicy,
)
from costs.models import FeeImport
from monitoring.models import ImportJob, Suppression
from tests.factories import (
    DESK_USERS,
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerContactFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    SlaClockFactory,
    UserFactory,
)
from tests.monitoring.findings_support import make_finding, slice_segment
from tests.urlwalk import fill_url, url_patterns

NAMESPACES = ("cases", "partners", "webhooks", "alerts", "monitoring", "costs")
TOP_LEVEL_NAMES = ("home", "overview", "profile", "api_tokens")  # api_token_revoke: tests/api/test_tokens.py
ROLES = ("analyst", "partner_manager", "lead")

# Views open to any signed-in user, role or not. A user waiting for a role can still set their
# own time zone and language; nothing of the desk is shown there.
OPEN_TO_ANY_SIGNED_IN_USER = {"profile", "api_tokens"}

# Views that only some roles may open, name → the roles that may (the others get 403).
ROLE_RESTRICTED: dict[str, set[str]] = {
    "cases:triage_inbox": {"partner_manager", "lead"},  # cases.triage_correspondence
    "cases:triage_attach": {"partner_manager", "lead"},
    "cases:notice_approvals": {"lead"},  # cases.approve_correspondence
    "cases:notice_approvals_count": {"lead"},
    "cases:notice_approve": {"lead"},
    "cases:notice_reject": {"lead"},
    "cases:notice_retry": {"partner_manager", "lead"},  # cases.send_correspondence
    "cases:notice_ack_link_revoke": {"partner_manager", "lead"},
    "partners:notice_template_list": {"partner_manager", "lead"},  # partners.change_noticetemplate
    "partners:notice_template_edit": {"partner_manager", "lead"},
    "partners:notice_template_preview": {"partner_manager", "lead"},
    **{  # webhooks.view/change_webhooksubscription
        f"webhooks:{name}": {"partner_manager", "lead"}
        for name in (
            "subscription_list",
            "subscription_create",
            "subscription_detail",
            "subscription_edit",
            "subscription_reveal",
            "subscription_rotate",
            "subscription_ping",
            "subscription_enable",
            "subscription_disable",
            "subscription_delete",
            "delivery_replay",
        )
    },
    "cases:sla_policy_create": {"lead"},  # cases.add_slapolicy
    "cases:sla_policy_edit": {"lead"},  # cases.change_slapolicy
    "cases:sla_policy_deactivate": {"lead"},
    "cases:sla_report": {"lead"},  # cases.view_sla_reports
    "cases:sla_report_csv": {"lead"},
    "alerts:rule_create": {"lead"},  # alerts.add_alertseverityrule
    "alerts:rule_edit": {"lead"},  # alerts.change_alertseverityrule
    "alerts:rule_delete": {"lead"},  # alerts.delete_alertseverityrule
    "monitoring:monitor_settings_global": {"lead"},  # monitoring.change_monitorsettings
    "monitoring:monitor_settings_remove": {"lead"},  # monitoring.delete_monitorsettings
    "monitoring:suppression_remove": {"lead"},  # monitoring.delete_suppression
    "costs:ratecard_create": {"partner_manager", "lead"},  # costs.add_ratecard
    "costs:ratecard_rule_add": {"partner_manager", "lead"},  # costs.add_feerule
    "costs:ratecard_rule_remove": {"partner_manager", "lead"},  # costs.delete_feerule
    "costs:ratecard_approve": {"lead"},  # costs.approve_ratecard
    "costs:thresholds_edit": {"lead"},  # costs.change_costthresholds
}

# A person's own uploads: the lead who uploaded the world's file opens it, every other role gets
# 404 (tests/monitoring/test_uploads.py covers the owner rules in depth).
OWNER_ONLY = {"monitoring:upload_detail", "monitoring:upload_progress"}

# Endpoints for machines, not people: no login redirect (the mail gateway's POST answers 404 or
# 401 with a bearer token instead). Their own tests cover them (tests/cases/correspondence/test_inbound.py).
MACHINE_ENDPOINTS = {"cases:inbound_raw"}
# Public pages a partner opens with a signed link, no login (tests/cases/correspondence/test_ack_links.py
# covers them: forged, expired and revoked links refused, rate limits).
PUBLIC_ENDPOINTS = {"cases:ack_page"}


@dataclass(frozen=True)
class Endpoint:
    name: str  # "namespace:url_name", or a top-level url name
    kwargs: tuple[str, ...]  # the URL's kwarg names, outer includes first

    def __str__(self) -> str:
        return self.name


def desk_endpoints() -> list[Endpoint]:
    """The URL patterns of the desk: the two app namespaces plus the overview and profile pages."""
    endpoints: dict[str, Endpoint] = {}
    for namespace, pattern, kwargs in url_patterns():
        root = namespace.split(":")[0] if namespace else None
        if root in NAMESPACES:
            # An unnamed pattern cannot be reversed, so nobody links to it by name: name it.
            name = f"{namespace}:{pattern.name}" if pattern.name else f"{namespace}:<unnamed {pattern.pattern}>"
        elif namespace is None and pattern.name in TOP_LEVEL_NAMES:
            name = pattern.name
        else:
            continue
        endpoints.setdefault(name, Endpoint(name, kwargs))
    return sorted(endpoints.values(), key=lambda e: e.name)


ENDPOINTS = desk_endpoints()
SIGNED_IN_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.name not in PUBLIC_ENDPOINTS]
PEOPLE_ENDPOINTS = [endpoint for endpoint in SIGNED_IN_ENDPOINTS if endpoint.name not in MACHINE_ENDPOINTS]


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    """The world and its visitors, built once for this module's walk in a transaction rolled back
    at its end. Each test runs in a savepoint of it (pytest-django's), so a test that writes
    leaves nothing for the next, and every test sees the same world."""
    with django_db_blocker.unblock(), transaction.atomic():
        users = {who: UserFactory(username=name, role=role) for who, (name, role) in DESK_USERS.items()}
        world = _build_world(users["lead"], users["partner_manager"])
        world["users"] = users
        _matrix_billing_case(world)
        world["post_only"] = {}  # url → whether a lead's GET answers 405 (asked once per URL)
        yield world
        transaction.set_rollback(True)


@pytest.fixture
def matrix_world(db, shared_world) -> dict:
    return shared_world


@pytest.fixture
def world(db, lead) -> dict:
    """One of everything a URL can point at, built for each test (for the walks of other modules,
    whose tests commit or need the conftest's users)."""
    return _build_world(lead, UserFactory(username=DESK_USERS["partner_manager"][0], role="partner_manager"))


def _build_world(lead, partner_manager) -> dict:
    """One of everything a URL can point at."""
    merchant = MerchantFactory(account_id="acct_MATRIX00001")
    partner = PartnerFactory(code="matrix-partner")
    PartnerContactFactory(partner=partner)
    incident = IncidentFactory(title="Matrix incident", owner=lead, created_by=lead)
    engagement = PartnerEngagementFactory(incident=incident, partner=partner)
    return {
        "notice": notice_compose(incident=incident, actor=lead, kind="breakage").drafts[0],
        "incident": incident,
        "merchant": merchant,
        "partner": partner,
        "affected": AffectedMerchantFactory(incident=incident, merchant=merchant, baseline_rate=Decimal("0.9")),
        "engagement": engagement,
        # A running clock, so the SLA badges, section and at-risk list render a real row.
        "sla_clock": SlaClockFactory(incident=incident),
        "note": InvestigationNote.objects.create(incident=incident, author=lead, body="A note"),
        "rca": _matrix_rca(engagement),
        "action_item": ActionItem.objects.create(incident=incident, title="Matrix action"),
        "saved_view": SavedView.objects.create(owner=lead, name="Matrix view", query="status=new"),
        "reply": _unmatched_reply(),
        # On a reply of the incident's thread: every desk role reads it (an unmatched reply's
        # attachments are for triagers, tests/cases/correspondence/test_inbound.py).
        "attachment": Attachment.objects.create(
            correspondence=_unmatched_reply(incident=incident, engagement=engagement, suffix="threaded"),
            filename="folio.txt",
            content_type="text/plain",
            size=4,
            content=b"4821",
        ),
        "finding": (finding := make_finding(slice_segment(merchant))),
        "suppression": Suppression.objects.create(
            segment=finding.segment, start=finding.window_start, end=finding.window_end, reason="Matrix window"
        ),
        "upload": ImportJob.objects.create(
            created_by=lead, file_name="matrix.csv", stored_name="matrix-upload", kind="csv", header=["merchant"]
        ),
        "cost_finding": _cost_finding(partner),
        "fee_rule": _matrix_fee_rule(partner),
        "fee_import": FeeImport.objects.create(partner=partner, sha256="0" * 64, shape="invoice", file_name="m.csv"),
        "webhook": (webhook := _matrix_webhook(partner_manager)),
        "webhook_delivery": webhook.deliveries.create(
            event_type="ping", event_id="00000000-0000-4000-8000-000000000001", payload={"type": "ping"}
        ),
    }


def _matrix_rca(engagement):
    from django.utils import timezone

    now = timezone.now()
    return RcaRequest.objects.create(
        incident=engagement.incident, engagement=engagement, requested_at=now, due_at=now + timedelta(days=7)
    )


def _matrix_fee_rule(partner):
    """A rule of a draft rate card (written by nobody of the matrix, so a lead may approve it)."""
    from costs.services import rate_card_create

    card = rate_card_create(partner=partner, effective_from=date(2026, 6, 1), rules=[{"fee_type": "fx"}])
    return card.rules.get()


def _matrix_webhook(partner_manager):
    """Owned by the partner manager, so both roles that manage webhooks see it: its owner and the
    lead who sees everyone's."""
    from tests.factories import WebhookSubscriptionFactory

    return WebhookSubscriptionFactory(owner=partner_manager)


def _unmatched_reply(*, incident=None, engagement=None, suffix: str = "reply") -> Correspondence:
    return Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction=Correspondence.Direction.INBOUND,
        status=Correspondence.Status.RECEIVED,
        subject="Matrix reply",
        from_address="ops@matrix.test",
        message_id=f"<matrix.{suffix}@matrix.test>",
    )


# URL kwarg name → its value in the fixture. Extend this when a new view takes a new kwarg.
KWARG_VALUES: dict[str, Callable[[dict], object]] = {
    "reference": lambda w: w["incident"].reference,
    "account_id": lambda w: w["merchant"].account_id,
    "code": lambda w: w["partner"].code,
    "note_id": lambda w: w["note"].pk,
    "row_id": lambda w: w["affected"].pk,
    "engagement_id": lambda w: w["engagement"].pk,
    "message_id": lambda w: w["reply"].pk,
    "attachment_id": lambda w: w["attachment"].pk,
    "kind": lambda w: "breakage",
    "language": lambda w: "es",
    "subscription_id": lambda w: w["webhook"].pk,
    "delivery_id": lambda w: w["webhook_delivery"].pk,
    "table": lambda w: "breaches",
    "finding_id": lambda w: w["finding"].pk,
    "suppression_id": lambda w: w["suppression"].pk,
    "partner_id": lambda w: w["partner"].pk,
    "shape": lambda w: "invoice",
    "rule_id": lambda w: w["fee_rule"].pk,
    "rca_id": lambda w: w["rca"].pk,
    "item_id": lambda w: w["action_item"].pk,
}
# (url name, kwarg name) → value, for kwargs whose name alone is ambiguous (a bare "pk").
KWARG_VALUES_BY_ENDPOINT: dict[tuple[str, str], Callable[[dict], object]] = {
    ("cases:savedview_delete", "pk"): lambda w: w["saved_view"].pk,
    ("cases:reply_candidate_confirm", "pk"): lambda w: w["reply"].pk,
    **{
        (f"cases:notice_{name}", "pk"): lambda w: w["notice"].pk
        for name in ("edit", "approve", "reject", "retry", "attach_report")
    },
    ("cases:notice_ack_link_revoke", "pk"): lambda w: w["notice"].pk,
    **{
        (f"cases:sla_policy_{name}", "pk"): lambda w: SlaPolicy.objects.get(severity="sev1", partner_kind="").pk
        for name in ("edit", "deactivate")
    },
    ("partners:calendar_detail", "code"): lambda w: "mx-banking",
    ("monitoring:segment_detail", "pk"): lambda w: w["finding"].segment_id,
    **{(f"monitoring:upload_{name}", "pk"): lambda w: w["upload"].pk for name in ("detail", "progress")},
    **{(f"alerts:rule_{name}", "pk"): lambda w: _default_alert_rule_pk() for name in ("edit", "delete")},
    **{(f"costs:finding_{name}", "pk"): lambda w: w["cost_finding"].pk for name in ("detail", "decide")},
    **{
        (f"costs:ratecard_{name}", "pk"): lambda w: w["fee_rule"].rate_card_id
        for name in ("detail", "rules_csv", "diff", "rule_add", "rule_remove", "approve")
    },
    **{(f"costs:import_{name}", "pk"): lambda w: w["fee_import"].pk for name in ("detail", "check")},
    **{
        (f"costs:{name}", "pk"): lambda w: _matrix_billing_case(w).pk
        for name in ("credit_note_record", "billing_case_amend")
    },
}


def _cost_finding(partner):
    from costs.models import CostFinding

    return CostFinding.objects.create(
        kind="rate_deviation", partner=partner, period="2026-06-01", key="matrix", amount=Decimal(100), severity="low"
    )


def _matrix_billing_case(world: dict):
    """A billing case on an incident of its own (one case per incident)."""
    from costs.models import BillingCase

    if "billing_case" not in world:
        world["billing_case"] = BillingCase.objects.create(
            incident=IncidentFactory(title="Matrix billing case", category="cost_rate"),
            partner=world["partner"],
            period="2026-06-01",
            amount_disputed=Decimal("100.00"),
            dispute_deadline="2026-08-29",
        )
    return world["billing_case"]


def _default_alert_rule_pk() -> int:
    from alerts.models import AlertSeverityRule

    return AlertSeverityRule.objects.get(priority=100).pk


def _url(endpoint: Endpoint, world: dict) -> str:
    return fill_url(
        endpoint.name,
        endpoint.kwargs,
        world,
        by_kwarg=KWARG_VALUES,
        by_endpoint=KWARG_VALUES_BY_ENDPOINT,
        where="tests/test_permission_matrix.py",
    )


def _user(world: dict, who: str):
    if who == "anonymous":
        return AnonymousUser()
    return world["users"][who]


def _is_post_only(client, world: dict, url: str) -> bool:
    """Whether the endpoint refuses GET (405) for a lead, who may do everything on the desk (asked
    once per URL of the module's world)."""
    if url not in world["post_only"]:
        client.force_login(world["users"]["lead"])
        status = client.get(url).status_code
        client.logout()
        assert status in (200, 405), f"{url}: a lead's GET answered {status}; expected 200 (page) or 405 (POST-only)"
        world["post_only"][url] = status == 405
    return world["post_only"][url]


def _snapshot() -> tuple:
    """What a refused action must not change."""
    return (
        CaseEvent.objects.count(),
        Incident.objects.order_by("pk").values_list("pk", "status", "severity", "owner_id", "updated_at").first(),
        InvestigationNote.objects.count(),
    )


def test_the_walker_finds_the_desk():
    names = {endpoint.name for endpoint in ENDPOINTS}

    assert {
        "home",
        "profile",
        "cases:merchant_list",
        "cases:merchant_detail",
        "partners:partner_list",
        "partners:partner_detail",
    } <= names


@pytest.mark.parametrize("endpoint", PEOPLE_ENDPOINTS, ids=str)
def test_anonymous_is_sent_to_login(client, matrix_world, endpoint):
    url = _url(endpoint, matrix_world)

    response = client.get(url)

    assert response.status_code == 302, f"GET {url} answered {response.status_code}"
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("endpoint", PEOPLE_ENDPOINTS, ids=str)
def test_anonymous_post_is_refused_and_changes_nothing(client, matrix_world, endpoint):
    url = _url(endpoint, matrix_world)
    post_only = _is_post_only(client, matrix_world, url)
    before = _snapshot()

    response = client.post(url, {})

    if post_only:
        assert response.status_code == 302, f"POST {url} answered {response.status_code}"
        assert response["Location"] == f"{reverse('login')}?next={url}"
    else:  # a page: the login redirect, or 405 where the method check comes first
        assert response.status_code in (302, 405), f"POST {url} answered {response.status_code}"
    assert _snapshot() == before


@pytest.mark.parametrize("endpoint", SIGNED_IN_ENDPOINTS, ids=str)
def test_user_without_a_role_is_refused(client, matrix_world, endpoint):
    url = _url(endpoint, matrix_world)
    post_only = _is_post_only(client, matrix_world, url)
    client.force_login(_user(matrix_world, "no_role"))
    before = _snapshot()

    got = client.get(url).status_code
    posted = client.post(url, {}).status_code if post_only else None

    if endpoint.name in OPEN_TO_ANY_SIGNED_IN_USER:
        assert got == 200, f"GET {url} answered {got}"
        return
    if post_only:
        assert got in (403, 405), f"GET {url} answered {got}"
        assert posted == 403, f"POST {url} answered {posted}"
    else:
        assert got == 403, f"GET {url} answered {got}"
    assert _snapshot() == before


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("endpoint", SIGNED_IN_ENDPOINTS, ids=str)
def test_desk_roles_may_open_every_page(client, matrix_world, endpoint, who):
    url = _url(endpoint, matrix_world)
    post_only = _is_post_only(client, matrix_world, url)
    client.force_login(_user(matrix_world, who))

    got = client.get(url).status_code

    if endpoint.name in ROLE_RESTRICTED and who not in ROLE_RESTRICTED[endpoint.name]:
        assert got == 403, f"GET {url} as {who} answered {got}"
    elif endpoint.name in OWNER_ONLY and who != "lead":
        assert got == 404, f"GET {url} as {who} answered {got}"
    else:
        assert got == (405 if post_only else 200), f"GET {url} as {who} answered {got}"
