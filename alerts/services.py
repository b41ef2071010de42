"""Writes for the alerts app: taking in a monitoring alert, and the leads' severity rules.

The fingerprint of an alert (recipe v1) identifies the segment it measures, whatever the window
or the figures:

    sha256("v1|<merchant account id>|<partner code>|<issuer code>|<network>|<country>|<bin prefix>")

as lower-case hex, prefixed `alert:v1:`. The codes are the directory's own spelling (the lookups
are exact), the network is the lower-case choice value (`visa`), the country upper-case ISO-2,
the BIN prefix its digits; an absent part is the empty string. So two alerts about the same
merchant, partner, issuer, network, country and BIN prefix share a fingerprint, and at most one
OPEN incident holds a fingerprint (the `incident_open_fingerprint_unique` constraint); once it
is resolved or closed, the next alert opens a new incident.

Severity of a new incident: the rules' severity for the measured drop and size, raised to the
alert's `severity_hint` if that is more severe. A hint never lowers what the rules say (a
monitor cannot talk a 30 pp outage down to SEV4). An alert on an open incident raises its
severity the same way when the new figures call for more, and never lowers it: people may have
raised it on purpose.

Two ways in: `alert_ingest` applies the alert in the request (`?wait=true`); `alert_accept`
stores a pending receipt and answers 202, and `alert_receipts_apply` (the worker) applies
pending receipts in batches with the same `alert_apply` (see "Asynchronous intake" below).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.payload import masked_and_validated, validated_payload
from alerts.selectors import alert_severity_for, severity_rank
from cases import timeline
from cases.models import AffectedMerchant, CaseEvent, Incident, Merchant
from cases.models.decline_count import IncidentDeclineCode
from cases.models.incident import OPEN_STATUSES, CardNetwork, Category, Source, derived_failed_attempts
from cases.search import deferred_search_refresh
from cases.services.decline_counts import decline_counts_record
from cases.services.impact import engagement_add, merchant_impact_add, merchant_impact_update
from cases.services.incidents import incident_change_severity, incident_open, incident_update_details
from cases.timeline.events import AlertReceived, CardNumbersMasked
from partners.models import Partner
from payhealth.db import constraints_checked_by_database, prepared_cursor
from payhealth.outbox import DATABASE_ERRORS, publish
from payhealth.pan import card_number_error, contains_card_number

logger = logging.getLogger(__name__)

FINGERPRINT_VERSION = "v1"
IDEMPOTENCY_KEY_MAX = 255
INTAKE_BATCH_MAX = 100  # alerts in one `alert_accept_batch` (one request of the batch endpoint)


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used by this user for a different request body."""


@dataclass
class AlertResult:
    """What an alert did; `status` and `body` are the API's answer, stored on the receipt."""

    incident: Incident | None
    outcome: str
    status: int
    body: dict
    receipt: AlertReceipt
    replayed: bool = False
    events: list[CaseEvent] = field(default_factory=list)


def alert_fingerprint(
    *, merchant: str, partner: str = "", issuer: str = "", network: str = "", country: str = "", bin_prefix: str = ""
) -> str:
    """The segment's de-duplication key (recipe in the module docstring)."""
    parts = [FINGERPRINT_VERSION, merchant, partner, issuer, network.lower(), country.upper(), bin_prefix]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return f"alert:{FINGERPRINT_VERSION}:{digest}"


def body_digest(payload) -> str:
    """SHA-256 of the payload as canonical JSON (sorted keys, no spaces): formatting doesn't matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def alert_ingest(*, actor, payload: dict, idempotency_key: str | None = None) -> AlertResult:
    """Open an incident for the alert's segment, or update the open one: one transaction.

    With an idempotency key the receipt is inserted first: a concurrent request with the same
    key blocks on that insert until this transaction ends, then replays this answer (or opens
    nothing if this one failed). Without a key every post is processed. Any error rolls back
    everything, receipt included.
    """
    key = _checked_key(idempotency_key)
    data = validated_payload(payload)
    digest = body_digest(payload)
    receipt = None
    if key:
        receipt, replay = _claim_key(actor=actor, key=key, digest=digest, source=data["source"])
        if replay is not None:
            return replay
    segment = _resolve_segment(data["segment"])
    fingerprint = alert_fingerprint(
        merchant=segment["merchant"].account_id,
        partner=segment["partner"].code if segment["partner"] else "",
        issuer=segment["issuer"].code if segment["issuer"] else "",
        network=segment["network"],
        country=segment["country"],
        bin_prefix=segment["bin_prefix"],
    )
    with constraints_checked_by_database():  # a violation ends this transaction: nothing is kept
        applied = alert_apply(actor=actor, data=data, segment=segment, fingerprint=fingerprint)
    incident, outcome, event = applied.incident, applied.outcome, applied.event
    status = 201 if outcome == AlertReceipt.Outcome.OPENED else 200
    body = {
        "reference": incident.reference,
        "url": reverse("cases:incident_detail", args=[incident.reference]),
        "outcome": outcome,
        "severity": incident.severity,
        "fingerprint": fingerprint,
    }
    if receipt is None:
        receipt = AlertReceipt(user=actor, idempotency_key="", body_sha256=digest, source=data["source"])
    receipt.incident = incident
    receipt.outcome = outcome
    receipt.fingerprint = fingerprint
    receipt.response_status = status
    receipt.response_body = body
    receipt.save()
    return AlertResult(incident=incident, outcome=outcome, status=status, body=body, receipt=receipt, events=[event])


def _checked_key(idempotency_key: str | None, *, field: str = "Idempotency-Key") -> str:
    """The key, stripped; refused (under `field`: the header's name, or a batch item's field)
    when too long or holding a card number."""
    key = (idempotency_key or "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise ValidationError(
            {field: _("The Idempotency-Key has at most %(max)d characters.") % {"max": IDEMPOTENCY_KEY_MAX}}
        )
    if contains_card_number(key):
        raise ValidationError({field: card_number_error()})
    return key


@dataclass
class AlertApplied:
    """What a validated alert did to the desk: the incident it opened or updated, and its event."""

    incident: Incident
    outcome: str
    event: CaseEvent


def alert_apply(
    *,
    actor,
    data: dict,
    segment: dict,
    fingerprint: str,
    add_merchant: bool = True,
    rules=None,
    open_incidents: dict[str, Incident | None] | None = None,
) -> AlertApplied:
    """The heart of the intake, shared by posted alerts and the detector's findings: open an
    incident for `fingerprint` or update the open one (impact, partners, codes, severity only
    up), and put the alert on its timeline. `data` has the shape of `validated_payload`'s answer,
    `segment` the shape of `_resolve_segment`'s (merchant, partner, issuer: rows or None).
    `add_merchant` False does not add the merchant when it is not on the incident yet (a
    measurement without excess declines); a merchant already there gets the figures anyway.
    Runs inside the caller's transaction. `rules`: the active severity rules, when the caller
    read them once for many alerts. `open_incidents`: the open incident of each fingerprint
    (None: none is open), locked by the caller for a batch (`_lock_open_incidents`); a
    fingerprint not in it is looked up, and it is kept up to date with what this alert did."""
    figures = _figures(data, rules=rules)
    if open_incidents is not None and fingerprint in open_incidents:
        existing = open_incidents[fingerprint]
    else:
        existing = _open_incident(fingerprint)
    incident = None
    if existing is None:
        try:
            with transaction.atomic():  # a savepoint: a lost race rolls back to here only
                incident = _open(
                    actor=actor,
                    data=data,
                    segment=segment,
                    figures=figures,
                    fingerprint=fingerprint,
                    add_merchant=add_merchant,
                )
        except (IntegrityError, ValidationError):
            # Another alert for the segment opened its incident first (the partial unique
            # constraint on open fingerprints refused ours): update that one instead.
            existing = _open_incident(fingerprint)
            if existing is None:
                raise
    if incident is not None:
        outcome = AlertReceipt.Outcome.OPENED
    else:
        outcome = AlertReceipt.Outcome.UPDATED
        incident = _update(
            actor=actor, incident=existing, data=data, segment=segment, figures=figures, add_merchant=add_merchant
        )
    event = _record_received(
        actor=actor,
        incident=incident,
        outcome=outcome,
        fingerprint=fingerprint,
        data=data,
        segment=segment,
        figures=figures,
    )
    if open_incidents is not None:
        open_incidents[fingerprint] = incident if incident.status in OPEN_STATUSES else None
    return AlertApplied(incident=incident, outcome=outcome, event=event)


def alert_apply_to_incident(
    *, actor, incident: Incident, data: dict, segment: dict, add_merchant: bool = True
) -> AlertApplied:
    """An alert's figures applied to a given open incident, whatever its fingerprint (a person
    attached the measurement to it): the update half of `alert_apply`."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.status not in OPEN_STATUSES:
        raise ValidationError({"incident": _("Only an open incident can take a monitoring alert.")})
    figures = _figures(data)
    locked = _update(
        actor=actor, incident=locked, data=data, segment=segment, figures=figures, add_merchant=add_merchant
    )
    outcome = AlertReceipt.Outcome.UPDATED
    return AlertApplied(
        incident=locked,
        outcome=outcome,
        event=_record_received(
            actor=actor,
            incident=locked,
            outcome=outcome,
            fingerprint=locked.fingerprint or "",
            data=data,
            segment=segment,
            figures=figures,
        ),
    )


def _record_received(
    *, actor, incident: Incident, outcome: str, fingerprint: str, data: dict, segment: dict, figures: dict
) -> CaseEvent:
    received = AlertReceived(outcome=outcome, fingerprint=fingerprint, **_event_data(data, segment, figures))
    event = timeline.record(received, incident=incident, actor=actor)
    if data.get("masked_card_numbers"):
        masked = CardNumbersMasked(origin="alert", count=data["masked_card_numbers"], correspondence=None)
        timeline.record(masked, incident=incident, actor=actor)
    incident.refresh_from_db(fields=["severity", "status"])
    return event


def _claim_key(*, actor, key: str, digest: str, source: str) -> tuple[AlertReceipt | None, AlertResult | None]:
    """Insert this key's receipt, or return the answer stored under it by an earlier request."""
    try:
        with transaction.atomic():
            return AlertReceipt.objects.create(user=actor, idempotency_key=key, body_sha256=digest, source=source), None
    except IntegrityError:
        # The unique (user, key) insert waited for the first request's transaction; it committed.
        first = (
            AlertReceipt.objects.select_for_update(of=("self",))
            .select_related("incident")
            .get(user=actor, idempotency_key=key)
        )
    if first.body_sha256 != digest:
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was already used with a different request body. Use a new key for a new alert.")
        )
    return None, AlertResult(
        incident=first.incident,
        outcome=first.outcome,
        status=first.response_status,
        body=first.response_body,
        receipt=first,
        replayed=True,
    )


def _resolve_segment(segment: dict, *, rows: bool = True, found: SegmentRows | None = None) -> dict:
    """The segment with its merchant and partners looked up; unknown ones are field errors.
    Two queries (the merchant, both partners at once), none with `found` (the rows of a whole
    batch, read once by `_segment_rows`); `rows=False` only checks that they exist (the request
    of an alert taken for later), without loading the merchant's row."""
    errors = {}
    codes = [code for code in (segment["partner"], segment["issuer"]) if code]
    if found is not None:
        merchant = found.merchants.get(segment["merchant"])
        partners = found.partners
    else:
        merchants = Merchant.objects.filter(account_id=segment["merchant"])
        merchant = merchants.first() if rows else merchants.exists()
        partners = {row.code: row for row in Partner.objects.filter(code__in=codes)} if codes else {}
    if not merchant:
        errors["segment.merchant"] = _("No merchant has the account id %(value)s.") % {"value": segment["merchant"]}
    partner = partners.get(segment["partner"]) if segment["partner"] else None
    issuer = partners.get(segment["issuer"]) if segment["issuer"] else None
    if segment["partner"] and partner is None:
        errors["segment.partner"] = _("No partner has the code %(value)s.") % {"value": segment["partner"]}
    if segment["issuer"]:
        if issuer is None:
            errors["segment.issuer"] = _("No partner has the code %(value)s.") % {"value": segment["issuer"]}
        elif issuer.kind != Partner.Kind.ISSUER:
            errors["segment.issuer"] = _("%(partner)s is not an issuer; send it as the partner.") % {
                "partner": issuer.name
            }
    if errors:
        raise ValidationError(errors)
    return {**segment, "merchant": merchant, "partner": partner, "issuer": issuer}


@dataclass
class SegmentRows:
    """The merchants (by account id) and partners (by code) that a batch of alerts names."""

    merchants: dict[str, Merchant]
    partners: dict[str, Partner]


def _segment_rows(segments: list[dict]) -> SegmentRows:
    """Two queries for a whole batch: its merchants, and its partners and issuers."""
    accounts = {segment["merchant"] for segment in segments}
    codes = {code for segment in segments for code in (segment["partner"], segment["issuer"]) if code}
    return SegmentRows(
        merchants={row.account_id: row for row in Merchant.objects.filter(account_id__in=accounts)},
        partners={row.code: row for row in Partner.objects.filter(code__in=codes)} if codes else {},
    )


def _figures(data: dict, rules=None) -> dict:
    baseline = data["baseline_approval_rate"]
    observed = data["observed_approval_rate"]
    attempts = data["attempts"]
    failed = data["failed_attempts"]
    if failed is None:
        failed = derived_failed_attempts(attempts=attempts, observed_rate=observed)
    volume = data["volume_at_risk"]
    drop_pp = (baseline - observed) * 100
    measured = alert_severity_for(
        drop_pp=drop_pp,
        attempts=attempts,
        volume=volume["amount"] if volume else None,
        currency=volume["currency"] if volume else "",
        rules=rules,
    )
    severity = measured
    if data["severity_hint"] and severity_rank(data["severity_hint"]) < severity_rank(measured):
        severity = data["severity_hint"]
    measures = {
        "baseline_rate": baseline,
        "observed_rate": observed,
        "attempts": attempts,
        "failed_attempts": max(failed, 0),
    }
    if volume:
        measures.update(volume_at_risk=volume["amount"], currency=volume["currency"])
    return {"drop_pp": drop_pp, "measured_severity": measured, "severity": severity, "measures": measures}


def _open_incident(fingerprint: str) -> Incident | None:
    return Incident.objects.select_for_update().filter(fingerprint=fingerprint, status__in=OPEN_STATUSES).first()


def _lock_open_incidents(fingerprints: set[str]) -> dict[str, Incident | None]:
    """The de-duplication look-up of a whole batch in one query: the open incident of each
    fingerprint (None where none is open), locked in fingerprint order, the order in which every
    worker applies its batch, so two workers never wait on each other crosswise."""
    found: dict[str, Incident | None] = dict.fromkeys(fingerprints)
    rows = (
        Incident.objects.select_for_update(of=("self",))
        .filter(fingerprint__in=fingerprints, status__in=OPEN_STATUSES)
        .order_by("fingerprint")
    )
    for incident in rows:
        found[incident.fingerprint] = incident
    return found


def _codes(data: dict) -> list[str]:
    ranked = sorted(data["decline_codes"], key=lambda item: -item["count"])
    return list(dict.fromkeys(item["code"] for item in ranked))


def _title(data: dict, segment: dict, drop_pp: Decimal) -> str:
    if data["title"]:
        return data["title"]
    scope = [segment["merchant"].name]
    scope += [p.name for p in (segment["partner"], segment["issuer"]) if p is not None]
    if segment["network"]:
        scope.append(CardNetwork(segment["network"]).label)
    if segment["country"]:
        scope.append(segment["country"])
    if segment["bin_prefix"]:
        scope.append(_("BIN %(prefix)s") % {"prefix": segment["bin_prefix"]})
    title = _("Approval rate down %(drop)s pp: %(scope)s") % {
        "drop": f"{drop_pp.quantize(Decimal('0.1'))}",
        "scope": " · ".join(scope),
    }
    return title[:200]


def _open(*, actor, data: dict, segment: dict, figures: dict, fingerprint: str, add_merchant: bool = True) -> Incident:
    window = data["window"]
    now = timezone.now()
    incident = incident_open(
        actor=actor,
        title=_title(data, segment, figures["drop_pp"]),
        category=Category.AUTH_RATE,
        severity=figures["severity"],
        summary=_("Opened by a monitoring alert%(source)s.")
        % {"source": f" ({data['source']})" if data["source"] else ""},
        started_at=window["start"],
        detected_at=max(now, window["start"]),
        card_networks=[segment["network"]] if segment["network"] else [],
        decline_codes=_codes(data),
        bin_prefixes=[segment["bin_prefix"]] if segment["bin_prefix"] else [],
        country=segment["country"],
        source=Source.ALERT,
        fingerprint=fingerprint,
        owner_is_author=False,  # the monitoring account is not a person: the desk picks it up
    )
    if add_merchant:
        merchant_impact_add(incident=incident, actor=actor, merchant=segment["merchant"], **figures["measures"])
    for partner in (segment["partner"], segment["issuer"]):
        if partner is not None:
            engagement_add(incident=incident, actor=actor, partner=partner)
    _record_counts(actor=actor, incident=incident, data=data)
    return incident


def _update(
    *, actor, incident: Incident, data: dict, segment: dict, figures: dict, add_merchant: bool = True
) -> Incident:
    """The latest measurement replaces the merchant's figures (windows overlap, so summing would
    double-count); decline codes, network and BIN prefix are merged in; severity only goes up."""
    merchant = segment["merchant"]
    row = AffectedMerchant.objects.filter(incident=incident, merchant=merchant).order_by("pk").first()
    if row is None:
        if add_merchant:  # someone took the merchant off the incident; the alert says it is hit
            merchant_impact_add(incident=incident, actor=actor, merchant=merchant, **figures["measures"])
    else:
        row.incident = incident  # the caller's locked incident: not read again through the row
        merchant_impact_update(affected=row, actor=actor, **figures["measures"])
    engaged = set(incident.engagements.order_by().values_list("partner_id", flat=True))
    for partner in (segment["partner"], segment["issuer"]):
        if partner is not None and partner.pk not in engaged:
            engagement_add(incident=incident, actor=actor, partner=partner)
    changes = {}
    merged_codes = list(dict.fromkeys([*incident.decline_codes, *_codes(data)]))
    if merged_codes != incident.decline_codes:
        changes["decline_codes"] = merged_codes
    if segment["network"] and segment["network"] not in incident.card_networks:
        changes["card_networks"] = [*incident.card_networks, segment["network"]]
    if segment["bin_prefix"] and segment["bin_prefix"] not in incident.bin_prefixes:
        changes["bin_prefixes"] = [*incident.bin_prefixes, segment["bin_prefix"]]
    if changes:
        incident = incident_update_details(incident=incident, actor=actor, **changes)
    if severity_rank(figures["severity"]) < severity_rank(incident.severity):
        incident = incident_change_severity(
            incident=incident,
            actor=actor,
            severity=figures["severity"],
            reason=_("A monitoring alert measured a drop of %(drop)s pp on %(attempts)s attempts.")
            % {"drop": f"{figures['drop_pp'].quantize(Decimal('0.01'))}", "attempts": data["attempts"]},
        )
    _record_counts(actor=actor, incident=incident, data=data)
    return incident


def _record_counts(*, actor, incident: Incident, data: dict) -> None:
    """The alert's decline-code counts replace the ones recorded for its codes (a measurement
    sent again changes nothing); a count before the outage is kept when the alert has none."""
    counts = []
    for item in data["decline_codes"]:
        entry = {"code": item["code"], "count_during": item["count"]}
        if item.get("count_before") is not None:
            entry["count_before"] = item["count_before"]
        counts.append(entry)
    if counts:
        decline_counts_record(
            incident=incident,
            actor=actor,
            counts=counts,
            source=IncidentDeclineCode.Source.ALERT,
            window_start=data["window"]["start"],
            window_end=data["window"]["end"],
            on_timeline=False,  # the "alert received" row that follows lists the codes and counts
        )


def _event_data(data: dict, segment: dict, figures: dict) -> dict:
    """The alert's figures as the timeline keeps them (JSON: decimals and times as strings)."""
    measures = figures["measures"]
    volume = data["volume_at_risk"]
    return {
        "source": data["source"],
        "merchant": segment["merchant"].name,
        "account_id": segment["merchant"].account_id,
        "partner": segment["partner"].code if segment["partner"] else "",
        "issuer": segment["issuer"].code if segment["issuer"] else "",
        "network": segment["network"],
        "country": segment["country"],
        "bin_prefix": segment["bin_prefix"],
        "window": {"start": data["window"]["start"].isoformat(), "end": data["window"]["end"].isoformat()},
        "baseline_rate": str(measures["baseline_rate"]),
        "observed_rate": str(measures["observed_rate"]),
        "drop_pp": str(figures["drop_pp"].quantize(Decimal("0.01"))),
        "attempts": measures["attempts"],
        "failed_attempts": measures["failed_attempts"],
        "volume_at_risk": {"amount": str(volume["amount"]), "currency": volume["currency"]} if volume else None,
        "decline_codes": [{"code": item["code"], "count": item["count"]} for item in data["decline_codes"]],
        "severity_hint": data["severity_hint"],
        "measured_severity": figures["measured_severity"],
    }


# --- Asynchronous intake ----------------------------------------------------------------------
#
# `alert_accept` is the request's half: validate, then in one statement check that the segment's
# merchant and partners exist and insert one pending receipt (ON CONFLICT on the Idempotency-Key),
# and answer 202. `alert_receipts_apply` is the worker's half: a batch of pending receipts, locked
# with SKIP LOCKED so that workers never share one, applied with `alert_apply` and marked in the
# same transaction: a worker that dies mid-batch rolls everything back and the receipts are
# pending again (never applied twice).

APPLY_TASK = "alerts.apply_pending_alerts_task"
# A batch is one transaction, and until it commits it holds what it wrote: the incidents it
# updated, the year's reference counter and the SLA rollups' mark of the day of the incidents it
# opened. An analyst opening an incident, or changing one's clocks that day, waits for it. So a
# batch is small and short: at most ALERT_BATCH_SIZE alerts and BATCH_SECONDS of applying, then
# it commits; the fixed part of a batch (9 statements) is a few percent of its alerts' own.
ALERT_BATCH_SIZE = 25
BATCH_SECONDS = 0.25
# Seconds a task spends applying, batch after batch, before it hands the rest to the next task:
# well inside the soft time limit (PAYHEALTH_TASK_TIME_LIMIT − 5 s at least, 25 s by default).
APPLY_BUDGET_SECONDS = 8.0

# One statement: the segment's merchant and partners are looked up (indexed, unique columns) and
# the receipt is inserted only if they all exist; the answer says which exist, and the new id. A
# segment that names an unknown row inserts nothing, and `_resolve_segment` then words the errors.
_INSERT_RECEIPT = """
WITH segment AS (
    SELECT EXISTS (SELECT 1 FROM cases_merchant WHERE account_id = %(merchant)s) AS merchant,
           (SELECT kind FROM partners_partner WHERE code = %(partner)s) AS partner_kind,
           (SELECT kind FROM partners_partner WHERE code = %(issuer)s) AS issuer_kind
), receipt AS (
    INSERT INTO alerts_alertreceipt
        (user_id, idempotency_key, body_sha256, source, outcome, fingerprint, response_status,
         response_body, created_at, state, payload, masked_card_numbers, error, applied_at, incident_id)
    SELECT %(user)s, %(key)s, %(digest)s, %(source)s, '', %(fingerprint)s, 202, '{}'::jsonb, now(), 'pending',
           %(payload)s::jsonb, %(masked)s, '{}'::jsonb, NULL, NULL
    FROM segment
    WHERE segment.merchant
      AND (%(partner)s = '' OR segment.partner_kind IS NOT NULL)
      AND (%(issuer)s = '' OR segment.issuer_kind = %(issuer_kind)s)
    ON CONFLICT (user_id, idempotency_key) WHERE NOT (idempotency_key = '') DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM receipt), segment.merchant, segment.partner_kind, segment.issuer_kind FROM segment
"""


@dataclass
class AlertAccepted:
    """The answer to an alert accepted for later (or the stored answer a repeated key replays)."""

    receipt_id: int
    status: int
    body: dict
    replayed: bool = False


def accepted_answer(*, receipt_id: int, fingerprint: str) -> dict:
    """The 202 body: the same for the first request and every replay of its key."""
    return {
        "id": receipt_id,
        "status_url": reverse("api:alert-status", args=[receipt_id]),
        "fingerprint": fingerprint,
    }


def alert_accept(*, actor, payload, idempotency_key: str | None = None) -> AlertAccepted:
    """Take an alert for the worker: the same field errors as `alert_ingest` (nothing written),
    then one pending receipt, and the worker woken once it is committed (`_wake_worker`). A key
    already used returns that request's answer (202 with the same receipt, or the answer
    `?wait=true` gave); with another body it is refused (`IdempotencyKeyReused`)."""
    accepted = _receipt_stored(actor=actor, payload=payload, key=_checked_key(idempotency_key))
    if not accepted.replayed:
        # At once, or after the caller's transaction.
        transaction.on_commit(partial(_wake_worker, accepted.receipt_id))
    return accepted


def alert_accept_batch(*, actor, alerts: list[tuple[object, str | None]]) -> list[AlertAccepted | Exception]:
    """Take several alerts at once (a monitor's batch: (payload, idempotency key) pairs), each
    exactly as `alert_accept` takes one, on its own: one refused (its field errors, a
    `ValidationError`; its key reused for another body, `IdempotencyKeyReused`) stops none of the
    others. Returns each alert's answer or error, in order; the worker is woken once for all
    the new receipts (a task applies every pending receipt, not only its own)."""
    if len(alerts) > INTAKE_BATCH_MAX:
        raise ValidationError(
            {"alerts": _("Send at most %(max)d alerts in one batch.") % {"max": INTAKE_BATCH_MAX}}, code="max_length"
        )
    results: list[AlertAccepted | Exception] = []
    for payload, idempotency_key in alerts:
        try:
            key = _checked_key(idempotency_key, field="idempotency_key")
            results.append(_receipt_stored(actor=actor, payload=payload, key=key))
        except (ValidationError, IdempotencyKeyReused) as error:
            results.append(error)
    new = [result.receipt_id for result in results if isinstance(result, AlertAccepted) and not result.replayed]
    if new:
        transaction.on_commit(partial(_wake_worker, min(new)))
    return results


# Whether a receipt older than the given one is still pending (the partial index of pending ids).
_OLDER_PENDING = "SELECT EXISTS (SELECT 1 FROM alerts_alertreceipt WHERE state = 'pending' AND id < %s)"


def _wake_worker(receipt_id: int) -> None:
    """Publish the apply task for receipts just committed (`receipt_id` the oldest of them),
    unless a receipt older than them is still pending: then a task is on its way or running for
    it, and applies these too.

    Why that holds: a task takes batches until a SELECT finds nothing pending, and the older
    receipt being still pending after this commit means the batch that takes it commits after it,
    so that task's next SELECT sees these receipts. Whoever accepted the older receipt made the
    same choice after its own commit, down to one that found nothing older and published. A task
    lost with the broker is beat's to make up (`apply-pending-alerts`, every
    PAYHEALTH_RECOVERY_SWEEP_SECONDS), as for a single lost message. In a burst, when every alert
    but the first finds an older one pending, the request skips the broker (a third of a
    millisecond of CPU) for one indexed look-up.
    """
    try:
        with prepared_cursor() as cursor:
            cursor.execute(_OLDER_PENDING, [receipt_id])
            if cursor.fetchone()[0]:
                return
    except DATABASE_ERRORS:  # the receipt is committed: publish rather than lose the wake-up
        logger.warning("could not look for older pending alert receipts; publishing the apply task")
    publish(APPLY_TASK, [receipt_id])


def _receipt_stored(*, actor, payload, key: str) -> AlertAccepted:
    """Validate the alert and store its pending receipt (or replay the answer its key was given)."""
    data, stored = masked_and_validated(payload)
    segment = data["segment"]
    fingerprint = alert_fingerprint(
        merchant=segment["merchant"],
        partner=segment["partner"],
        issuer=segment["issuer"],
        network=segment["network"],
        country=segment["country"],
        bin_prefix=segment["bin_prefix"],
    )
    digest = body_digest(payload)
    document = json.dumps(stored, cls=DjangoJSONEncoder, ensure_ascii=False)
    parameters = {
        "merchant": segment["merchant"],
        "partner": segment["partner"] or "",
        "issuer": segment["issuer"] or "",
        "issuer_kind": Partner.Kind.ISSUER.value,
        "user": actor.pk,
        "key": key,
        "digest": digest,
        "source": data["source"],
        "fingerprint": fingerprint,
        "payload": document,
        "masked": data["masked_card_numbers"],
    }
    while True:
        # One statement, autocommitted: no transaction of our own to begin and commit; prepared
        # once per connection, then only run.
        with prepared_cursor() as cursor:
            cursor.execute(_INSERT_RECEIPT, parameters)
            receipt_id, merchant_found, partner_kind, issuer_kind = cursor.fetchone()
        if (
            merchant_found
            and (not segment["partner"] or partner_kind is not None)
            and (not segment["issuer"] or issuer_kind == Partner.Kind.ISSUER)
        ):
            break
        # Nothing was inserted: word the field errors (a row created meanwhile: try again).
        _resolve_segment(segment, rows=False)
    if receipt_id is None:  # the key was used (the insert waited for that request to commit)
        first = AlertReceipt.objects.only("id", "body_sha256", "fingerprint", "response_status", "response_body").get(
            user=actor, idempotency_key=key
        )
        if first.body_sha256 != digest:
            raise IdempotencyKeyReused(
                _("This Idempotency-Key was already used with a different request body. Use a new key for a new alert.")
            )
        body = first.response_body
        if first.response_status == 202:
            body = accepted_answer(receipt_id=first.pk, fingerprint=first.fingerprint)
        return AlertAccepted(receipt_id=first.pk, status=first.response_status, body=body, replayed=True)
    return AlertAccepted(
        receipt_id=receipt_id, status=202, body=accepted_answer(receipt_id=receipt_id, fingerprint=fingerprint)
    )


def alert_receipts_apply(*, limit: int = ALERT_BATCH_SIZE, budget: float = APPLY_BUDGET_SECONDS) -> int:
    """Apply one batch of pending receipts (oldest first) in one transaction; returns how many it
    applied or marked failed. Each receipt is applied in a savepoint: one that fails (its merchant
    gone, an incident at its limits) is marked failed with its field errors and the others are
    applied. A database error (connection lost, deadlock) or anything unexpected rolls the whole
    batch back: it is pending again. Past `budget` seconds the batch stops and commits what it
    applied (the rest stays pending), so a slow database never runs a task into its time limit."""
    deadline = time.monotonic() + budget
    with transaction.atomic(), deferred_search_refresh():
        receipts = list(
            AlertReceipt.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("user")
            .filter(state=AlertReceipt.State.PENDING)
            .order_by("id")[:limit]
        )
        if not receipts:
            return 0
        rules = list(AlertSeverityRule.objects.filter(active=True).order_by("priority", "id"))
        now = timezone.now()
        # Grouped by segment, in arrival order within one: incidents are locked in the same order
        # by every worker (no deadlock), and a segment's alerts are applied as they came.
        receipts.sort(key=lambda r: (r.fingerprint, r.pk))
        validated = [_validated(receipt) for receipt in receipts]
        # Per batch instead of per alert: the segments' rows, and the open incidents (locked).
        found = _segment_rows([data["segment"] for data in validated if isinstance(data, dict)])
        open_incidents = _lock_open_incidents({receipt.fingerprint for receipt in receipts})
        done = []
        for receipt, data in zip(receipts, validated, strict=True):
            if done and time.monotonic() > deadline:
                break
            _apply_receipt(receipt, data=data, rules=rules, now=now, found=found, open_incidents=open_incidents)
            done.append(receipt)
        AlertReceipt.objects.bulk_update(
            done, ["state", "incident", "outcome", "error", "applied_at", "response_body"], batch_size=500
        )
    return len(done)


def alert_receipts_drain(*, limit: int = ALERT_BATCH_SIZE, budget: float = APPLY_BUDGET_SECONDS) -> int:
    """Apply batches, each committed after BATCH_SECONDS at most, until none is pending or `budget`
    seconds are spent (then the task is published again for the rest): what the task and the
    sweep run."""
    deadline = time.monotonic() + budget
    applied = 0
    while True:
        left = deadline - time.monotonic()
        taken = alert_receipts_apply(limit=limit, budget=min(BATCH_SECONDS, max(left, 0)))
        applied += taken
        if taken == 0:
            return applied
        if time.monotonic() >= deadline:
            if AlertReceipt.objects.filter(state=AlertReceipt.State.PENDING).exists():
                publish(APPLY_TASK, [0])
            return applied


# What the apply step may fail with for one alert (its data, or a rule of the desk): recorded on
# the receipt. Anything else (the database gone, the task's time limit) rolls the batch back.
RECORDED_ERRORS = (ValidationError, IntegrityError, DataError, ValueError, TypeError, KeyError, LookupError)


def _validated(receipt: AlertReceipt) -> dict | Exception:
    """The receipt's stored payload validated again before it is applied, or why it is refused."""
    try:
        data = validated_payload(receipt.payload)
    except RECORDED_ERRORS as error:
        return error
    data["masked_card_numbers"] = receipt.masked_card_numbers
    return data


def _apply_receipt(
    receipt: AlertReceipt, *, data: dict | Exception, rules: list, now, found: SegmentRows, open_incidents: dict
) -> None:
    try:
        # A savepoint: a failing alert leaves nothing of itself behind. Inside it the models'
        # constraints are checked by PostgreSQL alone (a violation rolls back to here).
        with transaction.atomic(), constraints_checked_by_database():
            if isinstance(data, Exception):
                raise data
            segment = _resolve_segment(data["segment"], found=found)
            applied = alert_apply(
                actor=receipt.user,
                data=data,
                segment=segment,
                fingerprint=receipt.fingerprint,
                rules=rules,
                open_incidents=open_incidents,
            )
    except ValidationError as error:
        open_incidents.pop(receipt.fingerprint, None)  # rolled back: looked up again if needed
        receipt.state = AlertReceipt.State.FAILED
        receipt.error = _error_fields(error)
    except RECORDED_ERRORS as error:  # a bug in one alert's data must not block the queue behind it
        logger.exception("alert receipt %s failed", receipt.pk)
        open_incidents.pop(receipt.fingerprint, None)
        receipt.state = AlertReceipt.State.FAILED
        receipt.error = {NON_FIELD_ERRORS: [f"{type(error).__name__}: {error}"[:500]]}
    else:
        receipt.state = AlertReceipt.State.APPLIED
        receipt.incident = applied.incident
        receipt.outcome = applied.outcome
        receipt.response_body = {
            "reference": applied.incident.reference,
            "url": reverse("cases:incident_detail", args=[applied.incident.reference]),
            "outcome": applied.outcome,
            "severity": applied.incident.severity,
            "fingerprint": receipt.fingerprint,
        }
    receipt.applied_at = now


def _error_fields(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {name: [str(message) for message in messages] for name, messages in error.message_dict.items()}
    return {NON_FIELD_ERRORS: [str(message) for message in error.messages]}


def alert_receipt_status(*, receipt: AlertReceipt) -> dict:
    """What the status URL answers: the state, and once applied the incident it opened or updated."""
    body = {
        "id": receipt.pk,
        "state": receipt.state,
        "received_at": receipt.created_at,
        "applied_at": receipt.applied_at,
        "fingerprint": receipt.fingerprint,
        "outcome": receipt.outcome or None,
        "reference": None,
        "url": None,
        "severity": None,
        "errors": receipt.error or None,
    }
    if receipt.state == AlertReceipt.State.APPLIED and receipt.incident_id:
        answer = receipt.response_body or {}
        body.update(reference=answer.get("reference"), url=answer.get("url"), severity=answer.get("severity"))
    return body


# --- Severity rules (leads) -------------------------------------------------------------------

RULE_FIELDS = (
    "priority",
    "description",
    "min_drop_pp",
    "min_attempts",
    "min_volume",
    "volume_currency",
    "severity",
    "active",
)


def _check_rule_fields(fields: dict) -> None:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")


@transaction.atomic
def alert_rule_create(*, actor, **fields) -> AlertSeverityRule:
    """Add a severity rule; it takes effect for the next alert."""
    _check_rule_fields(fields)
    rule = AlertSeverityRule(**fields, updated_by=actor if getattr(actor, "pk", None) else None)
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertSeverityRule, actor, **changes) -> AlertSeverityRule:
    """Change a severity rule; incidents already open keep their severity."""
    _check_rule_fields(changes)
    locked = AlertSeverityRule.objects.select_for_update().get(pk=rule.pk)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.updated_by = actor if getattr(actor, "pk", None) else None
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def alert_rule_delete(*, rule: AlertSeverityRule, actor) -> None:
    """Remove a severity rule. With no rule left every alert is SEV4 (or its hint)."""
    AlertSeverityRule.objects.filter(pk=rule.pk).delete()
