"""How a demo incident unfolds: its status path and times, who is involved and what was measured.

Shared by the curated demo and the bulk generator. Everything draws from the `random.Random`
it is given, so a seeded generator tells the same story on every run; times are relative to
`now`. Every path is checked against `TRANSITIONS`, the table the services enforce, and every
time respects the incident check constraints (detected ≥ started, resolved ≥ started,
closed ≥ resolved).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from cases.models import (
    AffectedMerchant,
    CardNetwork,
    Category,
    Incident,
    Merchant,
    PartnerEngagement,
    Severity,
    Status,
)
from cases.models.incident import TRANSITIONS
from demo import catalog, texts
from partners.models import Partner

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
PartnerStatus = PartnerEngagement.PartnerStatus

SEVERITY_WEIGHTS = {Severity.SEV1: 8, Severity.SEV2: 22, Severity.SEV3: 45, Severity.SEV4: 25}
OUTAGE_SEVERITY_WEIGHTS = {Severity.SEV1: 35, Severity.SEV2: 45, Severity.SEV3: 20}
CATEGORY_WEIGHTS = {
    Category.AUTH_RATE: 35,
    Category.LATENCY: 15,
    Category.COST_RATE: 13,
    Category.DATA_ACCURACY: 13,
    Category.OUTAGE: 12,
    Category.FRAUD_SPIKE: 12,
}
# Most history is closed; what is still open is recent.
STATUS_WEIGHTS = {
    Status.CLOSED: 45,
    Status.RESOLVED: 12,
    Status.MITIGATED: 8,
    Status.WAITING_ON_PARTNER: 11,
    Status.INVESTIGATING: 11,
    Status.TRIAGING: 6,
    Status.NEW: 7,
}
# A year of history is mostly closed: the open queue is only what happened lately.
BULK_STATUS_WEIGHTS = {
    Status.CLOSED: 85,
    Status.RESOLVED: 5,
    Status.MITIGATED: 2,
    Status.WAITING_ON_PARTNER: 3,
    Status.INVESTIGATING: 3,
    Status.TRIAGING: 1,
    Status.NEW: 1,
}
SOURCE_WEIGHTS = {"alert": 50, "manual": 40, "api": 10}
NETWORK_WEIGHTS = {"visa": 40, "mastercard": 35, "carnet": 15, "amex": 10}

RESOLVE_HOURS = {"sev1": (0.75, 5), "sev2": (2, 11), "sev3": (20, 24 * 6), "sev4": (48, 24 * 15)}
# How fast the desk picks an incident up, notifies partners, and partners acknowledge, in wall
# minutes: mostly inside the default SLA targets (the policies the migrations load), with a late
# tail, so SLA reports show realistic attainment (mostly met, some breaches).
RESPONSE_MINUTES = {
    "pickup": {"sev1": (2, 13), "sev2": (4, 27), "sev3": (15, 200), "sev4": (60, 480)},
    "notice": {"sev1": (6, 27), "sev2": (12, 55), "sev3": (40, 420), "sev4": (120, 1440)},
    "partner_ack": {"sev1": (3, 14), "sev2": (6, 28), "sev3": (30, 220), "sev4": (120, 900)},
}
LATE_SHARE = {"pickup": 0.1, "notice": 0.15, "partner_ack": 0.3}
OPEN_AGE_HOURS = {"sev1": (0.3, 10), "sev2": (0.5, 40), "sev3": (3, 24 * 10), "sev4": (12, 24 * 25)}
FRESH_AGE_HOURS = {Status.NEW: (0.05, 3), Status.TRIAGING: (0.2, 8)}
CLOSE_DELAY_HOURS = (12, 24 * 6)
DETECTION_LAG_MINUTES = {"sev1": (2, 25), "sev2": (5, 90), "sev3": (30, 12 * 60), "sev4": (60, 24 * 60)}
DROP_PP = {"sev1": (20, 55), "sev2": (5, 20), "sev3": (2, 5), "sev4": (0.5, 2)}

CODES = {
    Category.AUTH_RATE: ("05", "05", "51", "57", "62", "14", "54", "91"),
    Category.OUTAGE: ("91", "96", "06", "92"),
    Category.LATENCY: ("91", "68", "96", "19"),
    Category.FRAUD_SPIKE: ("59", "63", "34", "N7", "05"),
    Category.COST_RATE: (),
    Category.DATA_ACCURACY: ("12", "30", "96", "14"),
}
ALL_DEMO_CODES = frozenset(code for codes in CODES.values() for code in codes)
NETWORK_OF_PARTNER = {"visa": CardNetwork.VISA, "mastercard": CardNetwork.MASTERCARD, "amex": CardNetwork.AMEX}
NETWORK_OF_PARTNER["carnet"] = CardNetwork.CARNET
MX_ZONE = ZoneInfo(catalog.MX_TZ)
FOLIO_PREFIX = {spec.code: spec.folio_prefix for spec in catalog.DEMO_PARTNERS}


def weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


# --- Lifecycle ---------------------------------------------------------------------------------


def response_delay(rng: random.Random, severity: str, kind: str) -> timedelta:
    """A response time for `kind` (see RESPONSE_MINUTES): usually prompt, sometimes late."""
    low, high = RESPONSE_MINUTES[kind][severity]
    minutes = rng.uniform(low, high)
    if rng.random() < LATE_SHARE[kind]:
        minutes *= rng.uniform(1.2, 3.0)
    return MINUTE * minutes


def status_path(rng: random.Random, target: str) -> list[str]:
    """The statuses an incident went through after `new` to reach `target`."""
    if target == Status.NEW:
        return []
    if target == Status.TRIAGING:
        return [Status.TRIAGING]
    path = [Status.TRIAGING, Status.INVESTIGATING] if rng.random() < 0.7 else [Status.INVESTIGATING]
    if target == Status.INVESTIGATING:
        if rng.random() < 0.25:
            path += [Status.WAITING_ON_PARTNER, Status.INVESTIGATING]
        return path
    if target == Status.WAITING_ON_PARTNER:
        return [*path, Status.WAITING_ON_PARTNER]
    if rng.random() < 0.6:
        path.append(Status.WAITING_ON_PARTNER)
    if target == Status.MITIGATED:
        return [*path, Status.MITIGATED]
    if rng.random() < 0.7:
        path.append(Status.MITIGATED)
    path.append(Status.RESOLVED)
    if target == Status.CLOSED and rng.random() < 0.06:
        path += [Status.INVESTIGATING, Status.RESOLVED]  # reopened once, fixed for good
    if target == Status.CLOSED:
        path.append(Status.CLOSED)
    return path


def check_path(path: list[str]) -> None:
    current = Status.NEW
    for status in path:
        if status not in TRANSITIONS[current]:
            raise AssertionError(f"demo path {path} has the invalid step {current} → {status}")
        current = status


@dataclass
class Lifecycle:
    """When things happened. `anchor` is the last status change (the final resolution for
    resolved and closed incidents); `horizon` is the last moment anything may happen."""

    status: str
    severity: str
    opened_at: datetime
    started_at: datetime
    detected_at: datetime
    anchor: datetime
    horizon: datetime
    steps: list[tuple[str, str, datetime]] = field(default_factory=list)  # (from, to, at)
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None

    def at(self, fraction: float) -> datetime:
        """A moment between opening and the anchor: 0 is the opening, 1 the anchor."""
        return self.opened_at + (self.anchor - self.opened_at) * fraction

    def step_time(self, status: str) -> datetime | None:
        return next((at for _, to, at in self.steps if to == status), None)


def plan_lifecycle(rng: random.Random, *, status: str, severity: str, now: datetime, window: timedelta) -> Lifecycle:
    path = status_path(rng, status)
    check_path(path)
    window_hours = window / HOUR
    if status in (Status.RESOLVED, Status.CLOSED):
        duration = rng.uniform(*RESOLVE_HOURS[severity])
        if status == Status.CLOSED:
            delay = rng.uniform(*CLOSE_DELAY_HOURS)
            age = rng.uniform(min(duration + delay + 1, window_hours), window_hours)
            duration = min(duration, age * 0.6)
            delay = min(delay, age - duration - 0.5)
        else:
            delay = 0.0
            age = min(duration + rng.uniform(0.5, 24 * 4), window_hours)
            duration = min(duration, age - 0.25)
        opened = now - hours(age)
        anchor = opened + hours(duration)
        closed = anchor + hours(delay) if status == Status.CLOSED else None
        horizon = closed or now - MINUTE * rng.uniform(1, 10)
    else:
        low, high = FRESH_AGE_HOURS.get(status) or OPEN_AGE_HOURS[severity]
        opened = now - hours(rng.uniform(low, min(high, window_hours)))
        anchor = opened + (now - opened) * rng.uniform(0.55, 0.9)
        horizon = now - (now - opened) * 0.02
        closed = None
    low, high = DETECTION_LAG_MINUTES[severity]
    started = opened - MINUTE * rng.uniform(low, high)
    detected = started + (opened - started) * rng.uniform(0.5, 1.0)
    life = Lifecycle(
        status=status,
        severity=severity,
        opened_at=opened,
        started_at=started,
        detected_at=detected,
        anchor=anchor,
        horizon=horizon,
        closed_at=closed,
    )
    timed = [s for s in path if s != Status.CLOSED]
    fractions = _step_fractions(rng, len(timed))
    previous = Status.NEW
    for to, fraction in zip(timed, fractions, strict=True):
        life.steps.append((previous, to, life.at(fraction)))
        previous = to
    if life.steps:  # the pick-up (leaving `new`) comes within the response time, not a share of the life
        previous, to, at = life.steps[0]
        prompt = opened + response_delay(rng, severity, "pickup")
        if prompt < at:
            life.steps[0] = (previous, to, prompt)
            if len(timed) == 1:
                life.anchor = prompt
    if status == Status.CLOSED:
        life.steps.append((Status.RESOLVED, Status.CLOSED, closed))
    for _, to, at in life.steps:
        if to == Status.MITIGATED:
            life.mitigated_at = at
        elif to == Status.RESOLVED:
            life.resolved_at = at
        elif to == Status.INVESTIGATING and life.resolved_at is not None:
            life.resolved_at = None  # a reopen clears the resolution, as the service does
    return life


def _step_fractions(rng: random.Random, steps: int) -> list[float]:
    """Where each status change falls between opening (0) and the anchor (1): the first one
    (picking the incident up) comes quickly, the last one is the anchor itself."""
    if steps < 2:
        return [1.0] * steps
    first = rng.uniform(0.005, 0.06)
    gaps = [rng.uniform(0.3, 1.0) for _ in range(steps - 1)]
    total, running, fractions = sum(gaps), 0.0, [first]
    for gap in gaps[:-1]:
        running += gap
        fractions.append(first + (1 - first) * running / total)
    return [*fractions, 1.0]


def pick_status_severity_category(rng: random.Random, status_weights=STATUS_WEIGHTS) -> tuple[str, str, str]:
    status = weighted(rng, status_weights)
    category = weighted(rng, CATEGORY_WEIGHTS)
    severity = weighted(rng, OUTAGE_SEVERITY_WEIGHTS if category == Category.OUTAGE else SEVERITY_WEIGHTS)
    return status, severity, category


# --- Unsaved rows ------------------------------------------------------------------------------


def unsaved_row(model, **fields):
    """What `model(**fields)` gives, built without the constructor's walk over every field.

    The constructor pops each field from the keywords and computes the default of each missing
    one, for every row; a year of bulk incidents builds millions. Here the constant defaults are
    computed once per model and copied into the row's `__dict__`, callable ones (`list`, `dict`)
    called for each row as the constructor calls them, then each given field is set through its
    attribute, so a related object goes through its descriptor as with the constructor (its id and
    cache set). A model with `pre_init`/`post_init` listeners goes through the constructor, so
    they still hear of it. Keywords must name fields (`tests/demo/test_bulk.py` compares both)."""
    listened = pre_init.receivers or post_init.receivers  # nothing connected at all: no look-up
    if listened and (pre_init.has_listeners(model) or post_init.has_listeners(model)):
        return model(**fields)
    constant, computed = _row_defaults(model)
    row = model.__new__(model)
    row._state = ModelState()
    columns = row.__dict__
    columns.update(constant)
    for attname, default in computed:
        columns[attname] = default()
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def _row_defaults(model) -> tuple[dict, tuple]:
    """The model's constant defaults by column, and its callable ones, (column, callable) pairs."""
    defaults = _ROW_DEFAULTS.get(model)
    if defaults is None:
        constant, computed = {}, []
        for field_ in model._meta.concrete_fields:
            if field_.generated:
                continue  # the constructor leaves it unset; the database computes it
            if field_.has_default() and callable(field_.default):
                computed.append((field_.attname, field_.default))
            else:
                constant[field_.attname] = field_.get_default()
        defaults = _ROW_DEFAULTS[model] = (constant, tuple(computed))
    return defaults


_ROW_DEFAULTS: dict[type, tuple[dict, tuple]] = {}


# --- Who is involved ---------------------------------------------------------------------------


@dataclass
class Scenario:
    category: str
    language: str
    partners: list[Partner]
    networks: list[str]
    codes: list[str]
    bins: list[str]
    merchants: list[Merchant]
    context: dict[str, object]


def build_incident(*, life: Lifecycle, scenario: Scenario, **fields) -> Incident:
    """An unsaved incident whose impact window and scope come from its lifecycle and scenario."""
    return unsaved_row(
        Incident,
        started_at=life.started_at,
        detected_at=life.detected_at,
        mitigated_at=life.mitigated_at,
        resolved_at=life.resolved_at,
        closed_at=life.closed_at,
        card_networks=scenario.networks,
        decline_codes=scenario.codes,
        bin_prefixes=scenario.bins,
        country=scenario.merchants[0].country,
        created_at=life.opened_at,
        **fields,
    )


def _bin_for(rng: random.Random, network: str) -> str:
    length = rng.choice((6, 6, 8))
    prefix = {
        CardNetwork.VISA: "4",
        CardNetwork.MASTERCARD: rng.choice(("51", "52", "54", "55", "2223")),
        CardNetwork.AMEX: rng.choice(("34", "37")),
        CardNetwork.CARNET: "5062",
    }.get(network, "4")
    return prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))


def pick_scenario(rng: random.Random, desk, category: str, merchant_range: tuple[int, int]) -> Scenario:
    kinds = desk.partners_by_kind
    issuers = kinds.get(Partner.Kind.ISSUER, [])
    networks = kinds.get(Partner.Kind.CARD_NETWORK, [])
    switches = kinds.get(Partner.Kind.SWITCH, [])
    processors = kinds.get(Partner.Kind.PROCESSOR, []) + kinds.get(Partner.Kind.ACQUIRER, [])
    aggregators = kinds.get(Partner.Kind.AGGREGATOR, []) + kinds.get(Partner.Kind.GATEWAY, [])
    issuer = rng.choice(issuers)
    network_code = weighted(rng, NETWORK_WEIGHTS)
    network = next((p for p in networks if p.code == network_code), None) or rng.choice(networks)
    if category in (Category.AUTH_RATE, Category.FRAUD_SPIKE):
        partners = [issuer, network]
        if category == Category.AUTH_RATE and rng.random() < 0.5:
            partners.append(rng.choice(switches))
        infra = partners[-1]
    elif category == Category.COST_RATE:
        infra = rng.choice(processors + issuers[:4])
        partners = [network, infra]
    elif category == Category.OUTAGE:
        infra = rng.choice(switches * 3 + processors + aggregators)
        partners = [infra, *rng.sample(issuers, rng.choice((0, 1, 1, 2)))]
    elif category == Category.LATENCY:
        infra = rng.choice(switches * 2 + processors)
        partners = [infra] + ([issuer] if rng.random() < 0.5 else [])
    else:
        infra = rng.choice(aggregators + processors + switches)
        partners = [infra] + ([network] if rng.random() < 0.4 and infra.kind != Partner.Kind.CARD_NETWORK else [])
    partners = list(dict.fromkeys(partners))[:3]
    primary = partners[0]
    other_language = "en" if primary.language == "es" else "es"
    language = primary.language if rng.random() < 0.75 else other_language

    network_values = [NETWORK_OF_PARTNER[p.code] for p in partners if p.code in NETWORK_OF_PARTNER]
    if not network_values:
        network_values = rng.sample([CardNetwork.VISA, CardNetwork.MASTERCARD], rng.choice((1, 2)))
    codes_pool = CODES[category]
    codes = sorted(set(rng.sample(codes_pool, min(len(codes_pool), rng.randint(1, 3))))) if codes_pool else []
    wants_bins = category in (Category.AUTH_RATE, Category.FRAUD_SPIKE)
    bins = sorted({_bin_for(rng, network_values[0]) for _ in range(rng.randint(1, 3) if wants_bins else 0)})

    foreign = any(p.code == "dlocal" for p in partners) or rng.random() < 0.12
    pool = [m for m in desk.merchants if (m.country != "MX") == foreign] or desk.merchants
    merchants = rng.sample(pool, min(len(pool), rng.randint(*merchant_range)))

    product_index = rng.randrange(len(texts.PRODUCTS["en"]))
    network_label = CardNetwork(network_values[0]).label
    context = {
        "bank": issuer.name,
        "product": texts.PRODUCTS[language][product_index],
        "product_index": product_index,
        "network": network_label,
        "via": infra.name if infra is not network else network_label,
        "infra": infra.name,
        "code": codes[0] if codes else "05",
        "codes": ", ".join(codes) if codes else "—",
        "merchant": merchants[0].name,
        "merchant_count": len(merchants),
        "bin": bins[0] if bins else _bin_for(rng, network_values[0]),
        "bps": rng.randint(8, 45),
        "p95": f"{rng.uniform(3.5, 12):.1f}",
        "code_share": rng.randint(35, 85),
    }
    return Scenario(
        category=category,
        language=language,
        partners=partners,
        networks=network_values,
        codes=codes,
        bins=bins,
        merchants=merchants,
        context=context,
    )


# --- What was measured -------------------------------------------------------------------------


def share(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def measure_impact(
    rng: random.Random, *, incident, merchant: Merchant, severity: str, category: str, measured: bool, at: datetime
) -> AffectedMerchant:
    row = unsaved_row(
        AffectedMerchant,
        incident=incident,
        merchant=merchant,
        currency=catalog.currency_for(merchant.country),
        rate_definition=rng.choices(list(AffectedMerchant.RateDefinition), weights=(60, 30, 10))[0],
        updated_at=at,
    )
    if not measured:
        return row
    baseline = rng.uniform(0.85, 0.95)
    drop = rng.uniform(*DROP_PP[severity]) / 100
    if category == Category.COST_RATE:
        drop /= 10  # a cost regression barely moves approvals
    observed = max(0.05, baseline - drop)
    attempts = max(500, min(2_000_000, int(rng.lognormvariate(9.3, 1.1))))
    row.baseline_rate = Decimal(f"{baseline:.4f}")
    row.observed_rate = Decimal(f"{observed:.4f}")
    row.attempts = attempts
    row.failed_attempts = round(attempts * (1 - float(row.observed_rate)))
    excess = max(0, row.failed_attempts - round(attempts * (1 - float(row.baseline_rate))))
    ticket = rng.uniform(250, 2200) if row.currency == "MXN" else rng.uniform(15, 120)
    row.volume_at_risk = Decimal(f"{excess * ticket:.2f}")
    return row


def excess_of(row: AffectedMerchant) -> int:
    """What the database derives in `excess_declines`, for texts written before the insert."""
    if row.baseline_rate is None:
        return 0
    return max(0, row.failed_attempts - round(row.attempts * (1 - row.baseline_rate)))


# --- Partner engagements -----------------------------------------------------------------------

_PARTNER_STATUSES = {
    Status.NEW: (PartnerStatus.NOT_NOTIFIED,),
    Status.TRIAGING: (PartnerStatus.NOT_NOTIFIED, PartnerStatus.NOTIFIED),
    Status.INVESTIGATING: (PartnerStatus.NOTIFIED, PartnerStatus.ACKNOWLEDGED, PartnerStatus.INVESTIGATING),
    Status.WAITING_ON_PARTNER: (PartnerStatus.NOTIFIED, PartnerStatus.ACKNOWLEDGED, PartnerStatus.INVESTIGATING),
    Status.MITIGATED: (PartnerStatus.ACKNOWLEDGED, PartnerStatus.INVESTIGATING, PartnerStatus.FIX_IN_PROGRESS),
    Status.RESOLVED: (PartnerStatus.RESOLVED,),
    Status.CLOSED: (PartnerStatus.RESOLVED,),
}
ACKNOWLEDGING = {
    PartnerStatus.ACKNOWLEDGED,
    PartnerStatus.INVESTIGATING,
    PartnerStatus.FIX_IN_PROGRESS,
    PartnerStatus.RESOLVED,
    PartnerStatus.NOT_INVOLVED,
}


def folio_for(rng: random.Random, partner: Partner, year: int) -> str:
    prefix = FOLIO_PREFIX.get(partner.code, "FOL")
    if prefix == "INC":
        return f"INC{rng.randrange(1_000_000, 9_999_999)}"
    return f"{prefix}-{year}-{rng.randrange(10_000, 99_999)}"


def plan_engagement(rng: random.Random, *, incident, partner: Partner, life: Lifecycle, primary: bool):
    """A partner's side of the incident, consistent with the incident's own status."""
    status = rng.choice(_PARTNER_STATUSES[life.status])
    if not primary and life.status not in (Status.NEW, Status.TRIAGING) and rng.random() < 0.2:
        status = PartnerStatus.NOT_INVOLVED
    engaged = life.at(rng.uniform(0.003, 0.05))
    row = unsaved_row(
        PartnerEngagement,
        incident=incident,
        partner=partner,
        partner_status=status,
        created_at=engaged,
        updated_at=engaged,
    )
    if status != PartnerStatus.NOT_NOTIFIED:
        notified = life.at(rng.uniform(0.06, 0.25))
        prompt = life.opened_at + response_delay(rng, life.severity, "notice")
        row.first_notified_at = min(notified, max(prompt, engaged + (notified - engaged) * 0.2))
        row.updated_at = row.first_notified_at
    if status in ACKNOWLEDGING:
        later = (life.at(0.55) - row.first_notified_at) * rng.uniform(0.1, 0.8)
        row.acknowledged_at = row.first_notified_at + min(later, response_delay(rng, life.severity, "partner_ack"))
        row.folio = folio_for(rng, partner, row.acknowledged_at.year)
        row.updated_at = row.acknowledged_at
    if status == PartnerStatus.RESOLVED:
        row.resolved_at = life.at(rng.uniform(0.85, 0.99))
        row.updated_at = row.resolved_at
    if life.severity in (Severity.SEV1, Severity.SEV2) and status in ACKNOWLEDGING and rng.random() < 0.35:
        row.escalation_level = rng.choice((2, 2, 3))
    return row


def text_context(scenario: Scenario, life: Lifecycle, headline: AffectedMerchant, reference: str) -> dict:
    """Everything the title, summary, root cause and notes may mention."""
    end = life.resolved_at or life.anchor
    started_mx = life.started_at.astimezone(MX_ZONE)
    return {
        **scenario.context,
        "reference": reference,
        "baseline": share(headline.baseline_rate),
        "observed": share(headline.observed_rate),
        "attempts": f"{headline.attempts:,}",
        "excess": f"{excess_of(headline):,}",
        "start_utc": f"{life.started_at:%Y-%m-%d %H:%M}",
        "start_local": f"{started_mx:%H:%M}",
        "start_date": f"{started_mx:%Y-%m-%d}",
        "end_utc": f"{end:%Y-%m-%d %H:%M}",
        "end_local": f"{end.astimezone(MX_ZONE):%H:%M}",
    }


def local_time(moment: datetime, zone: str, language: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    label = texts.PARTNER_TIME_LABEL.get(zone) if language == "es" else None
    if label:
        return f"{local:%Y-%m-%d %H:%M} {label}"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({zone})"


def in_language(context: dict, language: str) -> dict:
    """The same context with its words (the card product) in `language`."""
    return {**context, "product": texts.PRODUCTS[language][context["product_index"]]}
