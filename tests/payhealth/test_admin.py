"""The Django admin: every model reachable, incidents opened through the service, history kept."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Profile
from accounts.services import api_token_create
from alerts.models import AlertReceipt
from cases.admin import IncidentChildInlineMixin
from cases.models import (
    AckLink,
    ActionItem,
    Attachment,
    CaseEvent,
    Correspondence,
    Incident,
    IncidentDeclineCode,
    InvestigationNote,
    Merchant,
    MerchantRoute,
    OverviewHour,
    OverviewHourDelta,
    OverviewOpen,
    OverviewOpenDelta,
    OverviewWeekMedian,
    PartnerEngagement,
    RcaRequest,
    ReferenceCounter,
    ResponseCode,
    SampleTransaction,
    SavedView,
    SlaClock,
    SlaClockEvent,
    SlaNotification,
    SlaPolicy,
    SlaRollup,
    SlaRollupPending,
    SlaRollupStaleMonth,
    SlaRollupTimes,
)
from cases.overview import overview_counters_fold
from cases.search import search
from cases.selectors import incident_trends
from cases.services import incident_open
from cases.sla.rollups import sla_rollup_fold, sla_rollup_mark
from costs.importing import fee_import
from costs.models import (
    BillingCase,
    CostFinding,
    CostThresholds,
    CreditNote,
    FeeImport,
    FeeImportMapping,
    FeeRecord,
    FeeRule,
    Giro,
    InvoiceLine,
    RateCard,
)
from costs.services import rate_card_create
from monitoring.models import (
    AuthBucket,
    DetectorRun,
    Finding,
    ImportJob,
    ImportMapping,
    MetricsBatchReceipt,
    MetricsPull,
    MonitorSettings,
    Segment,
    SegmentMonitor,
    Suppression,
)
from monitoring.services import buckets_upsert
from partners.models import BusinessCalendar, Holiday, NoticeTemplate, Partner, WorkingHours
from payhealth.admin_forms import ReadOnlyAdminMixin
from tests.factories import (
    AffectedMerchantFactory,
    MerchantFactory,
    PartnerContactFactory,
    PartnerEngagementFactory,
    UserFactory,
    WebhookSubscriptionFactory,
)
from tests.urlwalk import fill_url, url_patterns
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db

User = get_user_model()
OUR_APPS = ("accounts", "partners", "cases", "alerts", "webhooks", "monitoring", "costs")
INLINE_ONLY = {WorkingHours, Holiday, WebhookAttempt, SlaNotification}  # edited/shown on their parent's page
# Django 5.2's admin refuses models with a composite primary key; a segment's page shows its buckets.
NOT_REGISTERED = {AuthBucket}
READ_ONLY = {
    *(CaseEvent, Correspondence, Attachment, SlaClock, SlaClockEvent, ReferenceCounter, ResponseCode, SavedView),
    *(ApiToken, AlertReceipt, WebhookDelivery, Group),
    *(Segment, MetricsBatchReceipt, MetricsPull, ImportJob),
    *(MonitorSettings, SegmentMonitor, DetectorRun, Finding, Suppression),
    *(Giro, RateCard, FeeRule, FeeImport, InvoiceLine, FeeRecord, CostThresholds, CostFinding),
    *(FeeImportMapping, BillingCase, CreditNote, RcaRequest, ActionItem, AckLink),
    IncidentDeclineCode,
    SampleTransaction,
    SlaRollup,
    SlaRollupPending,
    SlaRollupStaleMonth,
    SlaRollupTimes,
    OverviewHour,
    OverviewHourDelta,
    OverviewOpen,
    OverviewOpenDelta,
    OverviewWeekMedian,
}
# Never deleted in the admin: the desk's record, closed, deactivated or revoked instead.
NEVER_DELETED = {Incident, PartnerEngagement, InvestigationNote, Merchant, Partner, SlaPolicy, NoticeTemplate, Profile}
NEVER_DELETED |= {get_user_model()}
# Edited in the admin alone (no page, no service): calendars' hours and holidays.
ADMIN_ONLY = {BusinessCalendar, ImportMapping}
ADMIN_MODELS = [m for m in admin.site._registry if m._meta.app_label in OUR_APPS] + [User]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


class FormValues(HTMLParser):
    """The values a browser would submit for the page's main form (inputs, selects, textareas)."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            if kind not in {"submit", "button", "file"}:
                self.data.setdefault(name, []).append(attrs.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select" and name and "disabled" not in attrs:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select].append(attrs.get("value", ""))
        elif tag == "textarea" and name and "disabled" not in attrs:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            if self._textarea:
                # Browsers drop the newline right after <textarea>.
                self.data[self._textarea][0] = self.data[self._textarea][0].removeprefix("\n")
            self._textarea = None


def form_data(response, **changes) -> dict:
    parser = FormValues()
    parser.feed(response.content.decode())
    data = {name: values if len(values) != 1 else values[0] for name, values in parser.data.items()}
    data.pop("csrfmiddlewaretoken", None)
    data.update(changes)
    return data


def _new_superuser():
    return User.objects.create_superuser("root", "root@payhealth.test", "secret-pass-123")


def _open_incident(superuser):
    return incident_open(
        actor=superuser, title="Caída de aprobación BBVA débito", category="auth_rate", severity="sev2"
    )


@pytest.fixture
def superuser(db):
    return _new_superuser()


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def incident(superuser):
    return _open_incident(superuser)


@pytest.fixture
def one_of_each(superuser, incident):
    build_one_of_each(superuser, incident)


def build_one_of_each(superuser, incident) -> None:
    """At least one row of every registered model, so each change page has something to show."""
    contact = PartnerContactFactory()
    engagement = PartnerEngagementFactory(incident=incident, partner=contact.partner)
    AffectedMerchantFactory(incident=incident, merchant=MerchantFactory(), baseline_rate="0.9", attempts=100)
    InvestigationNote.objects.create(incident=incident, author=superuser, body="BIN 415231 rechaza con 05")
    template = NoticeTemplate.objects.get(kind="breakage", language="es", partner_kind="", active=True)  # shipped
    notice = Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction="out",
        subject=f"[{incident.reference}] Falla",
        message_id="<one@payhealth.test>",
        template=template,
        template_version=1,
        peak_severity=incident.severity,
    )
    AckLink.objects.create(
        correspondence=notice, engagement=engagement, key="k" * 32, expires_at=timezone.now(), recipients=[]
    )
    policy = SlaPolicy.objects.get(severity="sev2", partner_kind="", partner=None, category="", active=True)
    clock = incident.sla_clocks.get(family="ours", metric="acknowledge")  # started by incident_open
    assert (clock.policy, clock.target) == (policy, timedelta(minutes=30))
    assert clock.events.filter(kind="start").exists()
    sla_rollup_fold()  # the clock's day summed for the reports (a rollup row)…
    sla_rollup_mark(incident_ids=[incident.pk])  # …and due again (a pending day)
    # A durations row, as a stopped clock's fold writes it (this desk's clocks still run).
    SlaRollupTimes.objects.create(
        day=clock.started_at.date(),
        family="ours",
        metric="acknowledge",
        severity=incident.severity,
        wall=[300_000_000],  # five minutes, in microseconds
        business=[300_000_000],
        wall_ends=[0, 0, 1],
        business_ends=[0, 0, 1],
    )
    overview_counters_fold()  # the overview's counters (the triggers' deltas folded)…
    incident_trends(user=superuser)  # …and this week's stored medians
    # Deltas pending: the incident moved an hour back and raised, then put back (the counters unchanged).
    moved = Incident.objects.filter(pk=incident.pk)
    moved.update(severity="sev1", created_at=F("created_at") - timedelta(hours=1))
    moved.update(severity=incident.severity, created_at=F("created_at") + timedelta(hours=1))
    api_token_create(user=superuser, name="admin check")
    AlertReceipt.objects.create(user=superuser, idempotency_key="k-1", body_sha256="0" * 64, incident=incident)
    subscription = WebhookSubscriptionFactory(owner=superuser)
    WebhookDelivery.objects.create(
        subscription=subscription, event_type="incident.opened", event_id=uuid.uuid4(), payload={}
    )
    Profile.objects.create(user=superuser)
    SavedView.objects.create(owner=superuser, name="Mis SEV1", query="severity=sev1")
    reply = Correspondence.objects.create(
        direction="in", status="received", subject="Re: Falla", message_id="<reply@bank.test>"
    )
    Attachment.objects.create(correspondence=reply, filename="folio.txt", content_type="text/plain", size=4)
    rca = RcaRequest.objects.create(
        incident=incident, engagement=engagement, requested_at=timezone.now(), due_at=timezone.now()
    )
    ActionItem.objects.create(incident=incident, rca=rca, title="Monitorear el enlace con el switch")
    IncidentDeclineCode.objects.create(incident=incident, code="91", count_before=3, count_during=120)
    SampleTransaction.objects.create(
        incident=incident,
        engagement=engagement,
        occurred_at=timezone.now(),
        amount="1250.00",
        currency="MXN",
        card="415231******1234",
        response_code="91",
        line=2,
        uploaded_at=timezone.now(),
    )
    MerchantRoute.objects.create(merchant=MerchantFactory(), partner=contact.partner, affiliation="7654321")
    merchant = MerchantFactory(account_id="acct_ADMINDATA01")
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    row = {"merchant": merchant.account_id, "network": "visa", "bucket_start": start.isoformat()}
    row |= {"attempts": 10, "approvals": 9, "soft_declines": 1, "hard_declines": 0, "errors": 0}
    row |= {"amount_attempted": "100.00", "amount_approved": "90.00", "currency": "MXN", "decline_codes": {"05": 1}}
    buckets_upsert([row], source="admin check")
    MetricsBatchReceipt.objects.create(user=superuser, idempotency_key="m-1", body_sha256="0" * 64)
    ImportMapping.objects.create(name="warehouse", columns={"merchant": "account"})
    MetricsPull.objects.create(source="warehouse", last_error="Row 2, merchant: No merchant has this account id.")
    ImportJob.objects.create(created_by=superuser, file_name="b.csv", stored_name="0" * 32 + ".csv", kind="csv")
    segment = Segment.objects.get(merchant=merchant, network="visa")
    MonitorSettings.objects.create(merchant=None, min_drop_pp="3.00")
    SegmentMonitor.objects.create(segment=segment, state="watch", dispersion=0.001)
    DetectorRun.objects.create(started_at=start, finished_at=start, segments=1, tests=1)
    finding = Finding.objects.create(
        kind="approval_drop", segment=segment, window_start=start, window_end=start + timedelta(minutes=15),
        baseline_rate="0.95", observed_rate="0.90", attempts=10, approvals=9, excess_declines=1,
        p_value=0.0001, q_value=0.001,
    )  # fmt: skip
    Suppression.objects.create(
        segment=segment, start=start, end=start + timedelta(hours=2), reason="Mantenimiento", finding=finding
    )
    acquirer = Partner.objects.create(code="adquirente-admin", name="Adquirente", kind="acquirer", country="MX")
    card = rate_card_create(
        partner=acquirer, effective_from=start.date(), rules=[{"fee_type": "interchange", "rate_bps": "45"}]
    )
    fee_import(
        [{"period": "2026-01", "fee_code": "IC", "count": "2", "volume": "100", "amount": "0.45"}],
        partner=acquirer, shape="invoice", mapping={"fee_codes": {"IC": "interchange"}},
    )  # fmt: skip
    fee_import(
        [{"reference": "ARN-ADMIN-1", "date": "2026-01-05", "amount": "100", "interchange_fee": "0.45"}],
        partner=acquirer, shape="records",
    )  # fmt: skip
    CostThresholds.objects.create(partner=acquirer)
    CostFinding.objects.create(
        kind="unknown_fee", partner=acquirer, period=start.date().replace(day=1), key="admin-check",
        fee_code="ZZ", amount="1200.00", severity="low", rule=card.rules.first(), rate_card=card,
    )  # fmt: skip
    FeeImportMapping.objects.create(partner=acquirer, shape="invoice", fee_codes={"IC": "interchange"})
    case = BillingCase.objects.create(
        incident=incident, partner=acquirer, period=start.date().replace(day=1),
        amount_disputed="1200.00", dispute_deadline=start.date() + timedelta(days=60),
    )  # fmt: skip
    CreditNote.objects.create(billing_case=case, reference="NC-1", amount="1200.00", issued_on=start.date())


def test_every_model_of_ours_is_registered():
    missing = [
        model._meta.label
        for app in OUR_APPS
        for model in apps.get_app_config(app).get_models()
        if not admin.site.is_registered(model) and model not in INLINE_ONLY | NOT_REGISTERED
    ]
    assert missing == []
    assert type(admin.site._registry[User]).__module__ == "accounts.admin"


@pytest.fixture(scope="class")
def every_model(django_db_setup, django_db_blocker):
    """A superuser and a row of every registered model, built once for a class's tests in a
    transaction rolled back at its end; each test runs in a savepoint of it (pytest-django's), so
    a save leaves nothing for the next."""
    with django_db_blocker.unblock(), transaction.atomic():
        superuser = _new_superuser()
        build_one_of_each(superuser, _open_incident(superuser))
        yield superuser
        transaction.set_rollback(True)


class TestEveryModel:
    """Every registered model's pages, opened and saved by a superuser, over one shared build of
    their rows (`every_model`: it takes a second or so, and the walk is two tests per model)."""

    @pytest.fixture
    def superuser(self, db, every_model):
        return every_model

    @pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.label)
    def test_superuser_opens_changelist_add_and_change_pages(self, admin_client, model):
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None

        assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        assert admin_client.get(admin_url(model, "add")).status_code == (403 if model in READ_ONLY else 200)
        assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200

    @pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.label)
    def test_a_superuser_resaves_every_change_form_unchanged_or_is_refused(self, admin_client, model):
        """Every change form a superuser may save goes back unchanged without an error (through its
        service); a read-only model's form refuses the save and changes nothing."""
        obj = model._default_manager.order_by("pk").first()
        url = admin_url(model, "change", obj.pk)
        page = admin_client.get(url)
        before = _row_counts()

        response = admin_client.post(url, form_data(page, _save="Save"))

        if model in READ_ONLY:
            assert response.status_code == 403
            assert _row_counts() == before
        else:
            errors = response.context and response.context.get("errors")
            assert response.status_code == 302, f"{model._meta.label}: {errors}"


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.label)
def test_every_admin_save_goes_through_a_service_or_there_is_none(model):
    """The admin is not a second write path: a model the admin may add or change saves through
    the service of its pages (an overridden save_model), unless the admin is its only editor."""
    model_admin = admin.site._registry[model]
    if model in READ_ONLY or model in ADMIN_ONLY:
        return
    assert type(model_admin).save_model is not admin.ModelAdmin.save_model, f"{model._meta.label} saves directly"
    for inline in model_admin.inlines:
        writes = getattr(inline, "has_change_permission", None) is not ReadOnlyAdminMixin.has_change_permission
        assert not writes or issubclass(inline, IncidentChildInlineMixin), f"{inline.__name__} saves directly"


def test_incident_search_finds_by_reference_and_by_title(admin_client, superuser):
    wanted = incident_open(actor=superuser, title="Timeouts en Prosa", category="latency", severity="sev3")
    other = incident_open(actor=superuser, title="Fraude en BIN 415231", category="fraud_spike", severity="sev2")
    url = admin_url(Incident, "changelist")

    by_reference = admin_client.get(url, {"q": wanted.reference})
    by_title = admin_client.get(url, {"q": "timeouts prosa"})

    assert list(by_reference.context["cl"].result_list) == [wanted]
    assert list(by_title.context["cl"].result_list) == [wanted]
    assert other not in by_title.context["cl"].result_list


def test_incident_changelist_runs_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries):
    for number in range(30):
        incident_open(
            actor=UserFactory(),
            title=f"Approval drop {number}",
            category="auth_rate",
            severity="sev3",
        )
    with django_assert_max_num_queries(12):
        response = admin_client.get(admin_url(Incident, "changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30


def test_adding_an_incident_goes_through_the_service(admin_client, superuser):
    response = admin_client.post(
        admin_url(Incident, "add"),
        {
            "title": "Rechazos 91 en Banorte",
            "category": "auth_rate",
            "severity": "sev2",
            "status": "closed",  # disabled: ignored, an incident always opens as new
            "owner": "",
            "summary": "Emisor no disponible desde las 09:10",
            "card_networks": ["visa", "mastercard"],
            "decline_codes": "91,96",
            "bin_prefixes": "415231",
            "country": "MX",
            "source": "manual",
            "fingerprint": "",
        },
    )

    assert response.status_code == 302
    incident = Incident.objects.get()
    assert re.fullmatch(rf"PH-{timezone.now().year}-\d{{6}}", incident.reference)
    assert (incident.status, incident.owner, incident.created_by) == ("new", superuser, superuser)
    assert incident.card_networks == ["visa", "mastercard"]
    assert incident.detected_at is not None
    assert list(incident.events.values_list("kind", "actor", "data__reference")) == [
        ("opened", superuser.pk, incident.reference)
    ]
    assert response["Location"] == admin_url(Incident, "changelist")


def test_adding_an_incident_with_a_card_number_is_refused_and_writes_nothing(admin_client):
    response = admin_client.post(
        admin_url(Incident, "add"),
        {
            "title": "x",
            "category": "auth_rate",
            "severity": "sev3",
            "source": "manual",
            "bin_prefixes": "4111111111111111",
        },
    )

    assert response.status_code == 200
    assert "bin_prefixes" in response.context["adminform"].form.errors
    assert Incident.objects.count() == 0
    assert CaseEvent.objects.count() == 0
    assert ReferenceCounter.objects.count() == 0


def test_changing_an_incident_goes_through_the_services_and_keeps_the_status(admin_client, superuser, incident):
    url = admin_url(Incident, "change", incident.pk)
    data = form_data(
        admin_client.get(url),
        title="Caída de aprobación BBVA crédito",
        severity="sev1",
        severity_reason="Prosa caído para todos",
        status="closed",  # disabled: transitions are made on the incident page or the API
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.status) == ("Caída de aprobación BBVA crédito", "sev1", "new")
    assert list(incident.events.exclude(kind="opened").order_by("id").values_list("kind", "data")) == [
        ("details_changed", {"changes": {"title": {"from": "Caída de aprobación BBVA débito", "to": incident.title}}}),
        ("severity_changed", {"from": "sev2", "to": "sev1", "reason": "Prosa caído para todos"}),
    ]


def test_a_severity_change_without_a_reason_is_refused_and_changes_nothing(admin_client, incident):
    url = admin_url(Incident, "change", incident.pk)

    response = admin_client.post(url, form_data(admin_client.get(url), severity="sev1", title="Otro título"))

    assert response.status_code == 200
    assert "severity_reason" in response.context["adminform"].form.errors
    incident.refresh_from_db()
    assert (incident.severity, incident.title) == ("sev2", "Caída de aprobación BBVA débito")
    assert list(incident.events.values_list("kind", flat=True)) == ["opened"]


def test_an_owner_without_a_desk_role_is_refused(admin_client, incident, outsider):
    url = admin_url(Incident, "change", incident.pk)

    response = admin_client.post(url, form_data(admin_client.get(url), owner=str(outsider.pk)))

    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    incident.refresh_from_db()
    assert incident.owner != outsider


def test_an_impact_added_inline_goes_on_the_timeline_and_into_search(admin_client, incident):
    merchant = MerchantFactory(name="Tiendas Aurora")
    url = admin_url(Incident, "change", incident.pk)
    data = form_data(admin_client.get(url))
    data.update(
        {
            "affected_merchants-TOTAL_FORMS": "1",
            "affected_merchants-0-merchant": str(merchant.pk),
            "affected_merchants-0-attempts": "1000",
            "affected_merchants-0-failed_attempts": "300",
            "affected_merchants-0-baseline_rate": "0.9",
            "affected_merchants-0-volume_at_risk": "0",
            "affected_merchants-0-currency": "MXN",
            "affected_merchants-0-rate_definition": "all_attempts",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    impact = incident.affected_merchants.get()
    assert (impact.merchant, impact.excess_declines) == (merchant, 200)
    assert incident.events.filter(kind="merchant_added", data__merchant="Tiendas Aurora").count() == 1
    assert list(search(Incident.objects.all(), "Aurora")) == [incident]


def test_case_events_cannot_be_added_changed_or_deleted(admin_client, superuser, incident):
    event = incident.events.get()

    add = admin_client.get(admin_url(CaseEvent, "add"))
    change = admin_client.post(admin_url(CaseEvent, "change", event.pk), {"kind": "note_added", "data": "{}"})
    delete = admin_client.post(admin_url(CaseEvent, "delete", event.pk), {"post": "yes"})
    changelist = admin_client.get(admin_url(CaseEvent, "changelist"))

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert "delete_selected" not in changelist.context["cl"].model_admin.get_actions(changelist.wsgi_request)
    event.refresh_from_db()
    assert (event.kind, CaseEvent.objects.count()) == ("opened", 1)


def test_sla_clock_events_cannot_be_changed_or_deleted(admin_client, one_of_each):
    event = SlaClockEvent.objects.filter(kind="start").order_by("pk").first()

    change = admin_client.post(admin_url(SlaClockEvent, "change", event.pk), {"kind": "breach"})
    delete = admin_client.post(admin_url(SlaClockEvent, "delete", event.pk), {"post": "yes"})

    assert (change.status_code, delete.status_code) == (403, 403)
    event.refresh_from_db()
    assert event.kind == "start"


def test_the_admin_cannot_write_a_message_to_a_partner(admin_client, one_of_each):
    """Notices are drafted, approved and sent through the services; the admin only shows them."""
    message = Correspondence.objects.get(direction="out")
    url = admin_url(Correspondence, "change", message.pk)

    page = admin_client.get(url)
    changed = admin_client.post(url, {"subject": "Otro", "body_text": "x", "to_addresses": "attacker@evil.test"})
    added = admin_client.post(admin_url(Correspondence, "add"), {"direction": "out", "subject": "Aviso"})
    deleted = admin_client.post(admin_url(Correspondence, "delete", message.pk), {"post": "yes"})

    assert page.status_code == 200 and "attacker" not in page.content.decode()
    assert (changed.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    message.refresh_from_db()
    assert (message.subject, message.to_addresses) == (f"[{message.incident.reference}] Falla", [])
    assert Correspondence.objects.count() == 2


def test_editing_a_notice_template_text_saves_a_new_version(admin_client, superuser):
    first = NoticeTemplate.objects.get(kind="update", language="en", partner_kind="", active=True)  # shipped
    url = admin_url(NoticeTemplate, "change", first.pk)

    response = admin_client.post(url, form_data(admin_client.get(url), body="New text"))

    assert response.status_code == 302
    assert list(
        NoticeTemplate.objects.filter(kind="update", language="en", partner_kind="")
        .order_by("version")
        .values_list("version", "body", "active", "author")
    ) == [(1, first.body, False, None), (2, "New text\n", True, superuser.pk)]


def test_adding_a_template_makes_it_the_next_active_version(admin_client, superuser):
    url = admin_url(NoticeTemplate, "add")
    data = {"kind": "update", "language": "es", "subject": "Otra", "body": "Otro texto {{ reference }}"}

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert list(
        NoticeTemplate.objects.filter(kind="update", language="es", partner_kind="")
        .order_by("version")
        .values_list("version", "active")
    ) == [(1, False), (2, True)]


def test_a_template_naming_an_unknown_variable_is_refused_with_the_line(admin_client):
    url = admin_url(NoticeTemplate, "add")
    data = {"kind": "update", "language": "es", "subject": "Aviso", "body": "Hola\n{{ settings.SECRET_KEY }}"}

    response = admin_client.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["body"]
    assert any("2" in error and "settings" in error for error in errors), errors
    assert NoticeTemplate.objects.filter(kind="update", language="es", partner_kind="").count() == 1


def test_a_merchant_is_saved_by_its_service_and_its_refusals_are_form_errors(admin_client):
    url = admin_url(Merchant, "add")
    good = {
        "account_id": " acct_ADMIN000001 ",
        "name": "Tiendas Sol",
        "country": "mx",
        "mcc": "5411",
        "segment": "enterprise",
    }

    refused = admin_client.post(url, {**good, "mcc": "54"})
    saved = admin_client.post(url, good)

    assert refused.status_code == 200
    assert "mcc" in refused.context["adminform"].form.errors
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    merchant = Merchant.objects.get()
    assert (merchant.account_id, merchant.country) == ("acct_ADMIN000001", "MX")  # normalised by the service


def test_a_webhooks_owner_and_secret_are_not_editable_in_the_admin(admin_client, superuser, partner_manager):
    hook = WebhookSubscriptionFactory(owner=partner_manager)
    secret = hook.secret
    url = admin_url(WebhookSubscription, "change", hook.pk)
    page = admin_client.get(url)

    response = admin_client.post(
        url, form_data(page, name="Renamed", owner=str(superuser.pk), secret="attacker-chosen-secret")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    hook.refresh_from_db()
    assert (hook.name, hook.owner, hook.secret) == ("Renamed", partner_manager, secret)
    assert secret not in page.content.decode()


# --- Who may use the admin: superusers alone, every page walked -----------------------------------

ADMIN_URLS = sorted(
    {
        (f"admin:{pattern.name}", kwargs)
        for namespace, pattern, kwargs in url_patterns()
        if namespace == "admin" and pattern.name  # the one unnamed pattern is the catch-all, tried below
    }
)
# "cases_incident" → Incident, longest prefix first ("auth_user" before "auth").
_MODEL_PREFIXES = sorted(
    ((f"admin:{m._meta.app_label}_{m._meta.model_name}_", m) for m in admin.site._registry),
    key=lambda pair: -len(pair[0]),
)
MISSING = 987654


def _model_of(name: str):
    return next((model for prefix, model in _MODEL_PREFIXES if name.startswith(prefix)), None)


def _first_pk(name: str, world) -> object:
    model = _model_of(name)
    row = model._default_manager.order_by("pk").first() if model is not None else None
    return row.pk if row is not None else MISSING


ADMIN_KWARGS = {
    "object_id": _first_pk,
    "id": lambda name, world: world["superuser"].pk,  # a user's password page
    "app_label": lambda name, world: "cases",
    "content_type_id": lambda name, world: ContentType.objects.get_for_model(Incident).pk,
}


def _admin_url(name: str, kwarg_names: tuple[str, ...], world: dict) -> str:
    fills = {kwarg: (lambda w, fill=fill: fill(name, w)) for kwarg, fill in ADMIN_KWARGS.items()}
    if name == "admin:view_on_site":
        fills["object_id"] = lambda w: w["incident"].pk
    url = fill_url(name, kwarg_names, world, by_kwarg=fills, by_endpoint={}, where="tests/payhealth/test_admin.py")
    if name == "admin:autocomplete":  # answers for one autocompleted field
        url += "?app_label=cases&model_name=affectedmerchant&field_name=incident&term=BBVA"
    return url


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.fixture
def admin_world(one_of_each, superuser, incident):
    return {"superuser": superuser, "incident": incident}


def test_the_walker_finds_the_admin():
    names = {name for name, _kwargs in ADMIN_URLS}

    assert {"admin:index", "admin:cases_incident_change", "admin:auth_user_password_change"} <= names
    assert len(names) > 100


@pytest.mark.parametrize("who", ["analyst", "partner_manager", "lead", "outsider"])
def test_desk_roles_never_reach_the_admin_even_as_staff(client, request, admin_world, who):
    """A desk seeded before this rule made its roles staff: staff or not, they only see the admin's login page."""
    user = request.getfixturevalue(who)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    login = reverse("admin:login")
    before = _row_counts()

    for name, kwarg_names in ADMIN_URLS:
        if name in ("admin:login", "admin:logout", "admin:jsi18n"):
            continue
        url = _admin_url(name, kwarg_names, admin_world)
        got, posted = client.get(url), client.post(url, {"_save": "Save", "action": "delete_selected"})
        for response in (got, posted):
            assert response.status_code == 302, f"{response.request['REQUEST_METHOD']} {url} as {who}"
            assert response["Location"].startswith(login), f"{url} as {who} went to {response['Location']}"

    assert client.get("/admin/cases/no-such-page/")["Location"].startswith(login)
    assert _row_counts() == before
    assert "but are not authorized to access this page" in client.get(login).content.decode()


def test_a_superuser_opens_every_admin_page(admin_client, admin_world):
    refused = {}
    for name, kwarg_names in ADMIN_URLS:
        if name in ("admin:logout", "admin:view_on_site"):
            continue
        url = _admin_url(name, kwarg_names, admin_world)
        status = admin_client.get(url).status_code
        model = _model_of(name)
        if status == 403:
            refused[name] = model
            continue
        assert status in (200, 302), f"GET {url} answered {status}"
        if status == 302:  # the login page sends a signed-in superuser on; a missing row back to the list
            assert name == "admin:login" or _first_pk(name, admin_world) == MISSING, f"GET {url} redirected"

    # Adding is refused exactly for the read-only models, deleting exactly for those and the rows
    # the desk keeps as its record (closed, deactivated or revoked instead).
    refused_adds = {model for name, model in refused.items() if name.endswith("_add")}
    refused_deletes = {model for name, model in refused.items() if name.endswith("_delete")}
    assert set(refused) == {name for name, model in refused.items() if name.endswith(("_add", "_delete"))}
    assert refused_adds == READ_ONLY
    assert refused_deletes == READ_ONLY | NEVER_DELETED


def test_a_superuser_gives_roles_and_staff_follows_superuser_status(admin_client, superuser):
    person = UserFactory(username="marta", role="partner_manager")
    person.is_staff = True  # as a desk seeded before the admin was for superusers alone
    person.save(update_fields=["is_staff"])
    person.user_permissions.add(*Permission.objects.filter(codename="delete_incident"))
    url = admin_url(User, "change", person.pk)
    analyst_role = Group.objects.get(name="analyst")

    response = admin_client.post(url, form_data(admin_client.get(url), groups=[str(analyst_role.pk)], _save="Save"))

    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.is_staff, person.is_superuser) == (False, False)
    assert list(person.groups.all()) == [analyst_role]
    assert not person.user_permissions.exists()  # what a person may do comes from their roles alone


def test_the_user_form_offers_the_roles_and_no_staff_flag_or_single_permissions(admin_client, superuser):
    page = admin_client.get(admin_url(User, "change", superuser.pk))
    fields = page.context["adminform"].form.fields

    assert "is_staff" not in fields and "user_permissions" not in fields
    assert sorted(fields["groups"].queryset.values_list("name", flat=True)) == ["analyst", "lead", "partner_manager"]


def test_only_a_superuser_saves_an_account(lead):
    from django.core.exceptions import PermissionDenied

    from accounts.services import account_save

    with pytest.raises(PermissionDenied):
        account_save(user=lead, actor=lead)


def test_only_superusers_see_the_link_to_the_admin(client, superuser, lead):
    admin_link = f'href="{reverse("admin:index")}"'
    lead.is_staff = True
    lead.save(update_fields=["is_staff"])

    client.force_login(lead)
    as_lead = client.get(reverse("home")).content.decode()
    client.force_login(superuser)
    as_superuser = client.get(reverse("home")).content.decode()

    assert admin_link not in as_lead
    assert admin_link in as_superuser
