"""`seed_demo` builds a believable demo desk, idempotently; `--incidents N` adds N bulk incidents."""

import re
from datetime import datetime, timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.http import HttpRequest
from django.utils import timezone

from cases.models import (
    AffectedMerchant,
    CaseEvent,
    Category,
    Correspondence,
    Incident,
    InvestigationNote,
    Merchant,
    PartnerEngagement,
    ReferenceCounter,
    ResponseCode,
    Severity,
    Status,
)
from cases.models.incident import TRANSITIONS
from demo import seed as demo_seed
from demo.catalog import partner_kind_from_csv
from partners.models import Partner, PartnerContact

User = get_user_model()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def seed(*args) -> None:
    call_command("seed_demo", "--no-metrics", *args, verbosity=0)


@pytest.mark.django_db
def test_seeding_twice_gives_exactly_the_same_rows():
    seed()
    first = row_counts()
    counter = list(ReferenceCounter.objects.values_list("year", "last"))
    seed()
    assert row_counts() == first
    assert list(ReferenceCounter.objects.values_list("year", "last")) == counter
    assert first["cases.Incident"] == 200
    assert first["partners.Partner"] == 27
    assert first["cases.Merchant"] == 62


@pytest.mark.django_db
def test_a_deleted_demo_incident_comes_back_the_same():
    seed()
    before = Incident.objects.get(fingerprint="demo:0042")
    story = (before.title, before.status, before.severity, before.category, before.card_networks)
    merchants = sorted(before.affected_merchants.values_list("merchant__name", flat=True))
    before.delete()
    seed()
    after = Incident.objects.get(fingerprint="demo:0042")
    assert (after.title, after.status, after.severity, after.category, after.card_networks) == story
    assert sorted(after.affected_merchants.values_list("merchant__name", flat=True)) == merchants
    assert Incident.objects.count() == 200


@pytest.fixture(scope="class")
def demo_desk(django_db_setup, django_db_blocker):
    """One seeded desk shared by the read-only checks below, rolled back afterwards; the instant
    it was seeded at (what `seed_demo` does, with `now` pinned so clocks can be replayed to it)."""
    with django_db_blocker.unblock(), transaction.atomic():
        now = timezone.now()
        demo_seed.seed_base(now=now)
        yield now
        transaction.set_rollback(True)


@pytest.mark.usefixtures("demo_desk")
@pytest.mark.django_db
class TestDemoContent:
    def test_every_status_severity_and_category_is_there(self):
        assert set(Incident.objects.values_list("status", flat=True)) == set(Status.values)
        assert set(Incident.objects.values_list("severity", flat=True)) == set(Severity.values)
        assert set(Incident.objects.values_list("category", flat=True)) == set(Category.values)

    def test_correspondence_goes_both_ways_in_both_languages(self):
        pairs = set(Correspondence.objects.values_list("direction", "language"))
        assert pairs == {("out", "es"), ("out", "en"), ("in", "es"), ("in", "en")}
        assert {"breakage", "update", "resolution"} <= set(Correspondence.objects.values_list("kind", flat=True))

    @pytest.mark.parametrize("role", ["analyst", "partner_manager", "lead"])
    def test_each_role_user_has_its_group_and_can_log_in(self, client, role):
        user = User.objects.get(username=role)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert not user.is_staff and not user.is_superuser  # the admin is for superusers alone
        assert user.get_full_name()
        assert client.login(request=HttpRequest(), username=role, password="payhealth")

    def test_admin_is_a_superuser_and_every_demo_user_has_a_profile(self, client):
        admin = User.objects.get(username="admin")
        assert admin.is_superuser and admin.is_staff
        assert client.login(request=HttpRequest(), username="admin", password="payhealth")
        zones = dict(User.objects.filter(profile__isnull=False).values_list("username", "profile__timezone"))
        assert set(zones) == {"admin", "analyst", "partner_manager", "lead", "mariana", "diego", "emily"}
        assert sorted(set(zones.values())) == ["America/Mexico_City", "America/New_York"]

    def test_incident_times_match_the_status(self):
        assert not Incident.objects.filter(status="closed").filter(
            Q(closed_at__isnull=True) | Q(resolved_at__isnull=True)
        )
        assert not Incident.objects.filter(status="resolved").filter(
            Q(resolved_at__isnull=True) | Q(closed_at__isnull=False)
        )
        open_ = Incident.objects.exclude(status__in=["resolved", "closed"])
        assert not open_.filter(Q(resolved_at__isnull=False) | Q(closed_at__isnull=False))
        assert not Incident.objects.filter(status="mitigated", mitigated_at__isnull=True)
        assert not Incident.objects.filter(
            Q(started_at__isnull=True) | Q(detected_at__gt=F("created_at")) | Q(created_at__gt=F("updated_at"))
        )
        now = timezone.now()
        assert not Incident.objects.filter(Q(created_at__lt=now - timedelta(days=90)) | Q(updated_at__gt=now))

    def test_every_timeline_starts_with_opened_and_follows_the_lifecycle(self):
        events = CaseEvent.objects.order_by("incident_id", "created_at", "id").values_list(
            "incident_id", "kind", "created_at", "data"
        )
        timelines: dict[int, list] = {}
        for incident_id, kind, created_at, data in events:
            timelines.setdefault(incident_id, []).append((kind, created_at, data))
        incidents = dict(Incident.objects.values_list("id", "status"))
        assert set(timelines) == set(incidents)
        for incident_id, timeline in timelines.items():
            assert timeline[0][0] == "opened"
            assert sum(kind == "opened" for kind, _, _ in timeline) == 1
            status = "new"
            for kind, _, data in timeline:
                if kind == "status_changed":
                    assert (data["from"], data["to"] in TRANSITIONS[status]) == (status, True)
                    if data["to"] == "waiting_on_partner":
                        assert data["reason"]
                    status = data["to"]
            assert status == incidents[incident_id]

    def test_notes_and_notices_point_at_their_rows(self):
        notes = set(InvestigationNote.objects.values_list("id", flat=True))
        noted = {e.data["note"] for e in CaseEvent.objects.filter(kind="note_added")}
        assert noted == notes
        sent = set(Correspondence.objects.filter(status="sent").values_list("id", flat=True))
        assert {e.data["correspondence"] for e in CaseEvent.objects.filter(kind="notice_sent")} == sent

    def test_engagements_involve_active_partners_consistently_with_the_incident(self):
        assert not PartnerEngagement.objects.filter(partner__active=False)
        assert Partner.objects.filter(active=False).exists()  # so the check above means something
        assert set(
            PartnerEngagement.objects.filter(incident__status__in=["resolved", "closed"]).values_list(
                "partner_status", flat=True
            )
        ) == {"resolved", "not_involved"}
        assert set(
            PartnerEngagement.objects.filter(incident__status="new").values_list("partner_status", flat=True)
        ) == {"not_notified"}
        acknowledged = PartnerEngagement.objects.filter(acknowledged_at__isnull=False)
        assert acknowledged.exists()
        assert not acknowledged.filter(Q(folio="") | Q(acknowledged_at__lt=F("first_notified_at")))
        assert not PartnerEngagement.objects.filter(resolved_at__gt=F("incident__resolved_at"))

    def test_replies_thread_onto_the_outbound_notice_of_the_same_partner(self):
        outbound = dict(Correspondence.objects.filter(direction="out").values_list("message_id", "engagement_id"))
        replies = Correspondence.objects.filter(direction="in")
        assert replies.exists()
        for reply in replies:
            assert reply.status == "received" and reply.received_at is not None
            assert outbound[reply.in_reply_to] == reply.engagement_id
        assert all(re.fullmatch(r"<ph\.PH-\d{4}-\d{6}\.\d+@localhost>", message_id) for message_id in outbound)

    def test_each_notice_goes_to_contacts_in_its_language(self):
        contacts = {c.email: c for c in PartnerContact.objects.select_related("partner")}
        for message in Correspondence.objects.filter(direction="out").select_related("engagement__partner"):
            for address in message.to_addresses:
                contact = contacts[address]
                assert contact.partner_id == message.engagement.partner_id
                assert contact.effective_language == message.language

    def test_impact_is_a_drop_and_codes_are_known(self):
        measured = AffectedMerchant.objects.filter(baseline_rate__isnull=False)
        assert measured.exists()
        assert not measured.filter(observed_rate__gte=F("baseline_rate"))
        assert not measured.filter(Q(baseline_rate__lt=0.85) | Q(baseline_rate__gt=0.95))
        assert not AffectedMerchant.objects.filter(volume_at_risk__gt=0, excess_declines=0)
        assert set(AffectedMerchant.objects.values_list("currency", flat=True)) == {"MXN", "USD"}
        per_incident = Incident.objects.annotate(n=Count("affected_merchants"), p=Count("engagements", distinct=True))
        assert per_incident.aggregate(Min("n"), Min("p")) == {"n__min": 1, "p__min": 1}
        seen = {code for codes in Incident.objects.values_list("decline_codes", flat=True) for code in codes}
        known = set(ResponseCode.objects.filter(scheme="iso8583").values_list("code", flat=True))
        assert seen and seen <= known

    def test_partners_merchants_and_contacts_look_real_but_are_not(self):
        bbva, visa = Partner.objects.get(code="bbva-mx"), Partner.objects.get(code="visa")
        assert (bbva.kind, bbva.language, bbva.timezone, bbva.calendar.code) == (
            "issuer",
            "es",
            "America/Mexico_City",
            "mx-banking",
        )
        assert (visa.kind, visa.language, visa.timezone, visa.calendar.code) == (
            "card_network",
            "en",
            "America/New_York",
            "us-eastern-business",
        )
        assert Partner.objects.get(code="prosa").kind == "switch"
        assert Partner.objects.get(code="mercado-pago").kind == "aggregator"
        assert not Partner.objects.filter(name__icontains="Banxico")
        assert set(visa.contacts.values_list("language", flat=True)) >= {"", "es"}
        assert all(email.endswith(".example") for email in PartnerContact.objects.values_list("email", flat=True))
        assert all(
            re.fullmatch(r"acct_[A-Za-z0-9]{16}", account)
            for account in Merchant.objects.values_list("account_id", flat=True)
        )
        assert not Incident.objects.exclude(fingerprint__regex=r"^demo:\d{4}$")


@pytest.mark.parametrize(
    ("csv_kinds", "kind"),
    [
        ("issuer;acquirer", "issuer"),
        ("card_network (domestic)", "card_network"),
        ("switch;clearing_house;processor", "switch"),
        ("aggregator;wallet", "aggregator"),
        ("acquirer (institutional);bank", "acquirer"),
        ("regulator;central_bank", None),
    ],
)
def test_partner_kinds_are_read_from_the_reference_csv(csv_kinds, kind):
    assert partner_kind_from_csv(csv_kinds) == kind


@pytest.mark.django_db
def test_bulk_adds_exactly_n_incidents_and_creates_the_desk_it_needs():
    seed("--incidents", "50")
    bulk = Incident.objects.all()
    assert bulk.count() == 50
    assert len(set(bulk.values_list("reference", flat=True))) == 50
    assert not bulk.exclude(fingerprint__startswith="bulk:")
    assert Partner.objects.count() == 27 and Merchant.objects.count() == 62
    assert User.objects.get(username="lead").groups.get().name == "lead"
    assert not Incident.objects.annotate(n=Count("affected_merchants")).filter(Q(n__lt=1) | Q(n__gt=3))
    assert not Incident.objects.annotate(n=Count("engagements")).filter(Q(n__lt=1) | Q(n__gt=2))
    first_kinds = {
        incident.events.order_by("created_at", "id").values_list("kind", flat=True).first() for incident in bulk
    }
    assert first_kinds == {"opened"}


@pytest.mark.django_db
def test_bulk_runs_add_up_and_keep_the_desk_as_it_is():
    seed("--incidents", "20")
    desk = {label: n for label, n in row_counts().items() if label.startswith("partners.") or label == "auth.User"}
    seed("--incidents", "30")
    assert Incident.objects.count() == 50
    assert len(set(Incident.objects.values_list("reference", flat=True))) == 50
    assert {label: n for label, n in row_counts().items() if label in desk} == desk


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["0", "-3", "abc", "2.5", ""])
def test_incidents_must_be_a_positive_integer(value):
    with pytest.raises(CommandError, match="positive integer"):
        call_command("seed_demo", "--incidents", value, verbosity=0)
    with pytest.raises(CommandError, match="positive integer"):
        call_command("seed_demo", incidents=value, verbosity=0)
    assert Incident.objects.count() == 0
    assert Partner.objects.count() == 0


# --- SLA clocks of the demo (demo/sla.py) -------------------------------------------------------

SLA_TARGET_FIELDS = {
    "acknowledge": "acknowledge_target",
    "first_notice": "first_notice_target",
    "update": "update_every",
    "resolve": "resolve_target",
}


def _replay_matches(clocks) -> list:
    from cases.sla.clocks import clock_replay
    from cases.sla.rules import STATE_FIELDS

    differences = []
    for clock in clocks:
        replayed = clock_replay(clock)
        wrong = {
            field: (getattr(clock, field), replayed[field])
            for field in STATE_FIELDS
            if getattr(clock, field) != replayed[field]
        }
        if wrong:
            differences.append((clock.pk, clock.metric, wrong))
    return differences


def _plain(data: dict) -> dict:
    """A crossing's data as facts: the due instant as an instant (the sweep's SQL writes it with
    fewer digits than Python), the partners waited on in one order (the sweep lists them in the
    database's collation)."""
    if "due_at" not in data:
        return data
    return {**data, "due_at": datetime.fromisoformat(data["due_at"]), "waiting_on": sorted(data["waiting_on"])}


def clock_histories(incident_id: int) -> dict:
    """Each clock of the incident, by family, metric and partner: its events and its columns."""
    from cases.models import SlaClock
    from cases.sla.rules import STATE_FIELDS

    histories = {}
    for clock in SlaClock.objects.filter(incident_id=incident_id).select_related("engagement"):
        key = (clock.family, clock.metric, clock.engagement.partner_id if clock.engagement_id else None)
        events = [
            (event.kind, event.at, event.reason, event.cycle, event.actor_id, _plain(event.data))
            for event in clock.events.order_by("at", "id")
        ]
        histories[key] = (events, {field: getattr(clock, field) for field in STATE_FIELDS})
    return histories


def live_twin(incident: Incident, *, now) -> int:
    """A copy of the incident whose clocks come from the live hooks, told the same history.

    The copy has the incident's category and partners and starts `new`. Before each fact of the
    history (as the demo reads it) it takes the status, severity or engagement stamps the fact
    gives it, the real sweep runs at the fact's instant, and the live hook the timeline listener
    would call for that fact runs; at the end the sweep runs at `now`. Returns the copy's id.
    """
    from cases.sla import clocks as live
    from cases.sla.sweep import sla_sweep
    from demo import sla as demo_sla
    from tests.factories import IncidentFactory

    history = demo_sla.histories_from_database([incident.pk])[incident.pk]
    facts = history.in_order()
    opened = next(fact for fact in facts if fact.kind == demo_sla.OPENED)
    twin = IncidentFactory(category=incident.category, severity=opened.args[0])
    twins = {
        row.pk: PartnerEngagement.objects.create(incident=twin, partner=row.partner) for row in history.engagements
    }
    users = {user.pk: user for user in User.objects.all()}

    def engagement(pk: int) -> PartnerEngagement:
        return PartnerEngagement.objects.select_related("partner").get(pk=twins[pk].pk)

    for fact in facts:
        sla_sweep(now=fact.at)
        actor, at = users.get(fact.actor_id), fact.at
        if fact.kind == demo_sla.OPENED:
            live.sla_clocks_start_for_incident(incident=twin, at=at)
        elif fact.kind == demo_sla.STATUS:
            was, to, reason = fact.args
            Incident.objects.filter(pk=twin.pk).update(status=to)
            twin.status = to
            live.sla_on_transition(incident=twin, actor=actor, old=was, new=to, reason=reason, at=at)
        elif fact.kind == demo_sla.SEVERITY:
            (twin.severity,) = fact.args
            Incident.objects.filter(pk=twin.pk).update(severity=twin.severity)
            live.sla_on_severity_change(incident=twin, actor=actor, at=at)
        elif fact.kind == demo_sla.NOTICE:
            notice, _engagement_id = fact.args
            sent = Correspondence.objects.get(pk=notice.pk)  # the row itself, as the live listener reads it
            assert (sent.sent_at, sent.incident_id) == (at, incident.pk)
            sent.incident_id = twin.pk  # never saved: the copy's hook reads it
            sent.engagement_id = twins[sent.engagement_id].pk if sent.engagement_id else None
            live.sla_on_notice_sent(correspondence=sent, at=at)
        elif fact.kind == demo_sla.REPLY:
            (engagement_id,) = fact.args
            live.sla_on_partner_reply(engagement=engagement(engagement_id), at=at, actor=actor)
        elif fact.kind == demo_sla.ENGAGEMENT:
            engagement_id, changes = fact.args
            PartnerEngagement.objects.filter(pk=twins[engagement_id].pk).update(**changes)
            live.sla_on_engagement_change(engagement=engagement(engagement_id), actor=actor, at=at)
    sla_sweep(now=now)
    return twin.pk


def first_difference(seeded: dict, live: dict) -> str:
    """Where two `clock_histories` part, readably (the assertion message)."""
    if set(seeded) != set(live):
        return f"clocks only seeded: {set(seeded) - set(live)}, only live: {set(live) - set(seeded)}"
    for key in seeded:
        (ours, columns), (theirs, live_columns) = seeded[key], live[key]
        for index, (one, other) in enumerate(zip(ours, theirs, strict=False)):
            if one != other:
                return f"{key} event {index}: seeded {one} / live {other}"
        if len(ours) != len(theirs):
            return f"{key}: seeded {ours[len(theirs) :]} / live {theirs[len(ours) :]}"
        if columns != live_columns:
            return f"{key}: seeded {columns} / live {live_columns}"
    return ""


def incidents_showing(features: dict) -> set[int]:
    """For each feature (a filter on clock events), the first seeded incident whose clocks show it."""
    from cases.models import SlaClockEvent

    chosen = {}
    for name, condition in features.items():
        events = SlaClockEvent.objects.filter(condition).order_by("clock__incident__fingerprint")
        chosen[name] = events.values_list("clock__incident_id", flat=True).first()
    assert None not in chosen.values(), chosen  # every feature is there, so the comparison covers it
    return set(chosen.values())


# Clock histories every rule of cases/sla/rules.py leaves its mark on.
RULE_FEATURES = {
    "paused while waiting on a partner": Q(kind="pause", clock__family="ours"),
    "partner's resolve paused while mitigated": Q(kind="pause", clock__family="partner"),
    "resumed out of waiting": Q(kind="resume", clock__family="ours") & ~Q(data__has_key="reopen"),
    "cancelled when the desk resolved first": Q(kind="stop", data__outcome="cancelled", clock__family="partner"),
    "partner resolved": Q(kind="stop", data__partner_status="resolved"),
    "partner not involved": Q(kind="stop", data__partner_status="not_involved"),
    "warned": Q(kind="warn"),
    "breached": Q(kind="breach"),
}
CURATED_FEATURES = {
    **RULE_FEATURES,
    "re-targeted by a severity change": Q(kind="retarget"),
    "resumed by a reopen": Q(kind="resume", data__reopen=True),
    "acknowledged by a reply": Q(kind="stop", data__reply=True),
    "first notice met by a notice": Q(kind="stop", clock__metric="first_notice", data__has_key="correspondence"),
    "update cadence renewed twice": Q(kind="start", cycle__gte=3),
}


@pytest.mark.usefixtures("demo_desk")
@pytest.mark.django_db  # ordered with the other database tests, before any flushing transactional test
class TestDemoSlaClocks:
    def test_every_incident_has_our_clocks_with_its_policy_targets(self):
        from cases.models import SlaClock

        ours = {}
        for incident_id, metric in SlaClock.objects.filter(family="ours").values_list("incident_id", "metric"):
            ours.setdefault(incident_id, set()).add(metric)
        assert set(ours) == set(Incident.objects.values_list("id", flat=True))
        assert all({"acknowledge", "resolve"} <= metrics for metrics in ours.values())
        for clock in SlaClock.objects.select_related("policy"):
            assert clock.target == getattr(clock.policy, SLA_TARGET_FIELDS[clock.metric]), clock
            assert clock.warn_after == timedelta(seconds=round(clock.target.total_seconds() * 0.75)), clock
        # SEV4 notices partners "as needed": no first-notice clock for incidents opened as SEV4.
        opened_sev4 = CaseEvent.objects.filter(kind="opened", data__severity="sev4").values_list("incident_id")
        assert not SlaClock.objects.filter(incident_id__in=opened_sev4, metric="first_notice")
        assert SlaClock.objects.filter(family="partner").exists()
        assert SlaClock.objects.filter(metric="update", cycle__gt=1).exists()  # renewed by a later notice

    def test_clock_states_follow_the_incident_status(self):
        from cases.models import SlaClock

        closed = SlaClock.objects.filter(incident__status__in=["resolved", "closed"])
        assert closed.exists()
        assert not closed.filter(state__in=["running", "paused"])
        assert not closed.filter(stopped_at__isnull=True)
        assert not SlaClock.objects.filter(metric="acknowledge", family="ours", incident__status="new").exclude(
            state="running"
        )
        assert (
            not SlaClock.objects.filter(metric="acknowledge", family="ours")
            .exclude(incident__status="new")
            .filter(state__in=["running", "paused"])
        )
        waiting = SlaClock.objects.filter(incident__status="waiting_on_partner", family="ours", metric="resolve")
        assert waiting.exists() and not waiting.exclude(state="paused")
        assert not waiting.filter(pause_reason="")
        running = SlaClock.objects.filter(state="running")
        assert not running.filter(Q(due_at__isnull=True) | Q(consumed_at__isnull=True))
        assert not SlaClock.objects.exclude(state="running").filter(
            Q(due_at__isnull=False) | Q(warn_due_at__isnull=False)
        )

    def test_attainment_is_realistic_mostly_met_some_breaches(self):
        from cases.models import SlaClock

        stopped = SlaClock.objects.filter(state__in=["met", "breached"])
        met, breached = stopped.filter(state="met").count(), stopped.filter(state="breached").count()
        assert breached > 20
        assert met > 3 * breached
        assert not SlaClock.objects.filter(state="breached", breached_at__isnull=True, consumed__lte=F("target"))

    def test_past_warnings_and_breaches_are_history_not_mail(self):
        from cases.models import SlaClock, SlaClockEvent

        crossings = SlaClockEvent.objects.filter(kind__in=["warn", "breach"])
        assert crossings.filter(kind="warn").exists() and crossings.filter(kind="breach").exists()
        assert not crossings.filter(Q(notified_at__isnull=True) | Q(at__gt=timezone.now()))
        assert set(crossings.values_list("data__status", flat=True)) <= set(Status.values)
        timeline = CaseEvent.objects.filter(kind__in=["sla_warning", "sla_breached"])
        assert timeline.count() == crossings.count()
        assert {e.data["event"] for e in timeline} == set(crossings.values_list("id", flat=True))
        # Every stamp on a clock is backed by its event, so a replay finds the same.
        assert (
            SlaClock.objects.filter(warned_at__isnull=False).count()
            == crossings.filter(kind="warn", clock__cycle=F("cycle")).count()
        )

    def test_near_breach_incidents_cross_within_minutes_of_the_seed(self):
        from cases.models import SlaClock

        fresh = Incident.objects.get(fingerprint="demo:0001")
        acknowledge = SlaClock.objects.get(incident=fresh, family="ours", metric="acknowledge")
        assert (fresh.status, fresh.severity) == ("new", "sev1")
        # Opened 10 minutes before the seed: warns 1¼ minutes after it, breaches 5 minutes after it.
        assert acknowledge.state == "running" and acknowledge.warned_at is None
        assert acknowledge.warn_due_at == fresh.created_at + timedelta(minutes=11, seconds=15)
        assert acknowledge.due_at == fresh.created_at + timedelta(minutes=15)
        assert not acknowledge.events.filter(kind__in=["warn", "breach"])
        assert timezone.now() - fresh.created_at < timedelta(minutes=20)

        long_running = Incident.objects.get(fingerprint="demo:0020")
        resolve = SlaClock.objects.get(incident=long_running, family="ours", metric="resolve")
        assert (long_running.status, long_running.severity) == ("investigating", "sev1")
        assert resolve.state == "running" and resolve.breached_at is None
        assert resolve.due_at == long_running.created_at + timedelta(hours=4)
        assert resolve.events.get(kind="warn").notified_at is not None  # 3 h in: already history

    def test_seeded_clocks_replay_to_the_same_state(self):
        from cases.models import SlaClock

        clocks = SlaClock.objects.all()
        assert clocks.count() > 600
        assert _replay_matches(clocks) == []

    def test_the_demo_clocks_are_what_the_live_hooks_make_of_the_same_history(self, demo_desk):
        """The demo decides and folds no clock event itself: told an incident's history, the live hooks
        (with the real sweep) write the very same clock events and columns as the seed did."""
        now = demo_desk
        # A partner whose contacts speak two languages gets one notice per language from one compose:
        # only the first renews the update cadence.
        one_compose = (
            Correspondence.objects.filter(direction="out", kind="breakage", sent_at__isnull=False)
            .values("engagement_id")
            .annotate(notices=Count("id"))
            .filter(notices__gte=2)
            .order_by("engagement__incident__fingerprint")
            .values_list("engagement__incident_id", flat=True)
            .first()
        )
        assert one_compose is not None
        near_breach = Incident.objects.filter(fingerprint__in=["demo:0001", "demo:0020"]).values_list("pk", flat=True)
        chosen = incidents_showing(CURATED_FEATURES) | {one_compose, *near_breach}
        for incident in Incident.objects.filter(pk__in=chosen).order_by("fingerprint"):
            seeded = clock_histories(incident.pk)
            assert seeded, incident.fingerprint
            live = clock_histories(live_twin(incident, now=now))
            assert live == seeded, (incident.fingerprint, first_difference(seeded, live))


@pytest.mark.django_db
def test_seeding_twice_does_not_duplicate_clocks():
    from cases.models import SlaClock, SlaClockEvent

    seed()
    clocks, events = SlaClock.objects.count(), SlaClockEvent.objects.count()
    seed()
    assert clocks > 600
    assert (SlaClock.objects.count(), SlaClockEvent.objects.count()) == (clocks, events)


@pytest.mark.django_db
def test_bulk_incidents_get_clocks_replayed_like_the_curated_ones():
    from cases.models import SlaClock

    seed("--incidents", "120")
    assert set(
        SlaClock.objects.filter(family="ours", metric="acknowledge").values_list("incident_id", flat=True)
    ) == set(Incident.objects.values_list("id", flat=True))
    assert set(SlaClock.objects.filter(family="ours", metric="resolve").values_list("incident_id", flat=True)) == set(
        Incident.objects.values_list("id", flat=True)
    )
    assert not SlaClock.objects.filter(incident__status__in=["resolved", "closed"], state__in=["running", "paused"])
    assert SlaClock.objects.filter(state="running").exists()
    assert SlaClock.objects.filter(state="met").count() > SlaClock.objects.filter(state="breached").count()
    assert not SlaClock.objects.filter(incident__status="waiting_on_partner", metric="resolve", family="ours").exclude(
        state="paused"
    )
    assert _replay_matches(SlaClock.objects.all()) == []


@pytest.mark.django_db
def test_bulk_clocks_are_what_the_live_hooks_make_of_the_same_history():
    """The bulk incidents' clocks come from the same replay through the rules as the curated ones."""
    now = timezone.now()
    demo_seed.seed_bulk(150, now=now)
    for incident in Incident.objects.filter(pk__in=incidents_showing(RULE_FEATURES)).order_by("fingerprint"):
        seeded = clock_histories(incident.pk)
        live = clock_histories(live_twin(incident, now=now))
        assert live == seeded, (incident.fingerprint, first_difference(seeded, live))
