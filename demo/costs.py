"""The demo's partner billing: four months of it for an acquirer, a switch and a card network,
priced by approved rate cards of the Mexico sample figures, with a few errors for the checks to find.

The last complete month and the three before it (COST_REGRESSION compares a month with the
median of the three before, and the downgrade test with their pooled share) are generated with a
fixed seed and imported through `costs.importing.fee_import` (in-memory rows): transaction fee
records of the acquirer (Elavon), monthly invoice lines of the switch (Prosa) and of the card
network (Visa). The last month carries the injected errors:

- a rate deviation: Visa debit e-commerce at airlines billed 82 bps where the card gives 75;
- 30 references billed twice (interchange and markup);
- an unknown fee code on the switch's invoice (`CUOTA-PLATAFORMA`, MXN 1,850);
- a cross-border fee on domestic cards (issuer and merchant in Mexico);
- interchange on a zero-rated giro (government);
- a downgrade spike on Mastercard credit (2 % of transactions before, 9 % that month).

Then `costs_check` runs for the last month (the months before are clean). Idempotent: nothing
is done once the demo acquirer has a rate card.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from costs.checks import costs_check, month_bounds, months_back
from costs.importing import fee_import
from costs.models import RateCard
from costs.sample import INTERCHANGE_FILE, _read, sample_rate_card_create
from costs.services import rate_card_approve
from partners.models import Partner

SEED = 20260601
ACQUIRER, SWITCH, NETWORK = "elavon", "prosa", "visa"
MONTHS = 4  # the month checked and the three before it
RECORDS_PER_MONTH = 5_000  # the acquirer's everyday transactions
AIRLINE_RECORDS = 1_500  # Visa debit e-commerce at airlines, a month
CENT = Decimal("0.01")
DOWNGRADE_BPS = 40  # what a downgraded transaction pays above its rule
DEVIATION_BPS = 7
DUPLICATES = 30
ZERO_RATED_RECORDS = 150
CROSS_BORDER_RECORDS = 60
UNKNOWN_FEE = ("CUOTA-PLATAFORMA", Decimal("1850.00"))
SWITCH_CODES = {"SW-MARKUP": "markup"}
NETWORK_CODES = {"ASSESSMENT-DB": "scheme", "ASSESSMENT-CR": "scheme"}
ECOMMERCE_GIROS = {"comercio_electronico", "ventas_distancia", "agregadores"}
MARKUP = {"debit": (Decimal(20), Decimal("0.50")), "credit": (Decimal(35), Decimal("0.50"))}
TICKETS = {  # (low, high) amount of a transaction, MXN
    "aerolineas": (2500, 9500),
    "hoteles": (1200, 6000),
    "agencias_viajes": (1500, 8000),
    "renta_autos": (900, 5000),
    "departamentales": (400, 3500),
    "gasolineras": (300, 1200),
    "supermercados": (150, 1800),
    "misc_abarrotes": (40, 400),
    "comida_rapida": (80, 450),
    "peaje": (40, 300),
    "estacionamientos": (30, 200),
    "colegiaturas": (2000, 7000),
    "hospitales": (800, 9000),
}


@dataclass(frozen=True)
class Giro:
    code: str
    debit_bps: Decimal
    credit_bps: Decimal
    weight: int
    zero_rated: bool


def _giros() -> list[Giro]:
    return [
        Giro(
            row["giro"],
            Decimal(row["debit_bps"]),
            Decimal(row["credit_bps"]),
            int(row["volume_weight"]),
            row["zero_rated"] == "true",
        )
        for row in _read(INTERCHANGE_FILE)
    ]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def last_complete_month(today: date) -> date:
    return months_back(today.replace(day=1), 1)


class _Month:
    """One month of the acquirer's records and the switch's and network's invoice lines."""

    def __init__(self, rng: random.Random, month: date, giros: list[Giro], *, checked: bool):
        self.rng, self.month, self.checked = rng, month, checked
        self.days = month_bounds(month)[1].day
        self.giros = [g for g in giros if not g.zero_rated]
        self.weights = [g.weight for g in self.giros]
        self.zero_rated = next(g for g in giros if g.zero_rated)
        self.airlines = next(g for g in giros if g.code == "aerolineas")
        self.records: list[dict] = []

    def _record(self, giro: Giro, *, network: str, funding: str, entry_mode: str, low: int, high: int, **extra):
        rng = self.rng
        amount = Decimal(rng.randrange(low * 100, high * 100)) / 100
        bps = giro.debit_bps if funding == "debit" else giro.credit_bps
        downgraded = extra.pop("downgraded", False)
        if downgraded:
            bps += DOWNGRADE_BPS
        bps += extra.pop("extra_bps", 0)
        markup_bps, markup_fixed = MARKUP[funding]
        day = self.month + timedelta(days=rng.randrange(self.days))
        row = {
            "reference": f"7{self.month:%y%m}{len(self.records):08d}{rng.randrange(10**6):06d}",
            "date": day.isoformat(),
            "bin": rng.choice(("415231", "455545", "481516") if network == "visa" else ("516587", "547400")),
            "last4": f"{rng.randrange(10**4):04d}",
            "network": network,
            "funding": funding,
            "region": "domestic",
            "giro": giro.code,
            "entry_mode": entry_mode,
            "issuer_country": "MX",
            "merchant_country": "MX",
            "amount": str(amount),
            "currency": "MXN",
            "interchange_fee": str(_money(amount * bps / 10000)),
            "markup_fee": str(_money(amount * markup_bps / 10000 + markup_fixed)),
            "cross_border_fee": "",
            "downgrade_reason": "Sin datos de seguridad (3-D Secure)" if downgraded else "",
        }
        row.update(extra)
        self.records.append(row)
        return row

    def everyday(self) -> None:
        rng = self.rng
        for _n in range(RECORDS_PER_MONTH):
            giro = rng.choices(self.giros, self.weights)[0]
            network = "visa" if rng.random() < 0.55 else "mastercard"
            funding = "debit" if rng.random() < 0.6 else "credit"
            if giro.code in ECOMMERCE_GIROS:
                entry_mode = "ecommerce"
            else:
                entry_mode = "chip" if rng.random() < 0.6 else "contactless"
            spike = self.checked and network == "mastercard" and funding == "credit"
            downgraded = rng.random() < (0.09 if spike else 0.02)
            low, high = TICKETS.get(giro.code, (100, 2500))
            self._record(
                giro,
                network=network,
                funding=funding,
                entry_mode=entry_mode,
                low=low,
                high=high,
                downgraded=downgraded,
            )
        for _n in range(AIRLINE_RECORDS):  # the cohort the rate deviation hits
            self._record(
                self.airlines,
                network="visa",
                funding="debit",
                entry_mode="ecommerce",
                low=4000,
                high=8000,
                extra_bps=DEVIATION_BPS if self.checked else 0,
            )
        for _n in range(ZERO_RATED_RECORDS // 3):  # government payments: no interchange
            self._record(self.zero_rated, network="visa", funding="debit", entry_mode="ecommerce", low=200, high=3000)

    def errors(self) -> None:
        """The last month's injected errors (the rate deviation and the spike are in `everyday`)."""
        rng = self.rng
        for _n in range(ZERO_RATED_RECORDS):
            row = self._record(
                self.zero_rated, network="mastercard", funding="debit", entry_mode="ecommerce", low=300, high=4000
            )
            row["interchange_fee"] = str(_money(Decimal(row["amount"]) * 30 / 10000))
        for _n in range(CROSS_BORDER_RECORDS):
            row = self._record(
                rng.choice(self.giros), network="visa", funding="credit", entry_mode="ecommerce", low=500, high=5000
            )
            row["cross_border_fee"] = str(_money(Decimal(row["amount"]) * 80 / 10000))
        for original in rng.sample(self.records[:RECORDS_PER_MONTH], DUPLICATES):
            self.records.append(dict(original))

    def invoice_lines(self) -> tuple[list[dict], list[dict]]:
        """The switch's markup and the network's assessment, by network and funding, from the records."""
        totals: dict[tuple[str, str], list] = {}
        for row in self.records:
            total = totals.setdefault((row["network"], row["funding"]), [0, Decimal(0)])
            total[0] += 1
            total[1] += Decimal(row["amount"])
        period = f"{self.month:%Y-%m}"
        switch, network = [], []
        for (name, funding), (count, volume) in sorted(totals.items()):
            switch.append(
                {
                    "period": period,
                    "network": name,
                    "funding": funding,
                    "fee_code": "SW-MARKUP",
                    "count": str(count),
                    "volume": str(volume),
                    "amount": str(_money(volume * 2 / 10000 + count * Decimal("0.25"))),
                }
            )
            if name == "visa":
                bps = Decimal("3.5") if funding == "debit" else Decimal(5)
                network.append(
                    {
                        "period": period,
                        "network": "visa",
                        "funding": funding,
                        "region": "domestic",
                        "fee_code": "ASSESSMENT-DB" if funding == "debit" else "ASSESSMENT-CR",
                        "count": str(count),
                        "volume": str(volume),
                        "amount": str(_money(volume * bps / 10000)),
                    }
                )
        if self.checked:
            code, amount = UNKNOWN_FEE
            switch.append(
                {
                    "period": period,
                    "network": "",
                    "funding": "",
                    "fee_code": code,
                    "count": "1",
                    "volume": "0",
                    "amount": str(amount),
                }
            )
        return switch, network


def _approved_cards(partners: list[Partner], effective_from: date) -> None:
    users = get_user_model().objects.in_bulk(["partner_manager", "lead"], field_name="username")
    author, lead = users.get("partner_manager"), users.get("lead")
    for partner in partners:
        card = sample_rate_card_create(partner=partner, effective_from=effective_from, actor=author)
        RateCard.objects.filter(pk=card.pk).update(
            notes=card.notes + " Demo: approved so that the demo's billing is checked."
        )
        rate_card_approve(rate_card=card, actor=lead)


@transaction.atomic
def seed_demo_costs(*, today: date | None = None) -> dict | None:
    """Rate cards, four months of billing and the checks' findings; None when seeded before or
    when the demo partners or users are missing."""
    partners = Partner.objects.in_bulk([ACQUIRER, SWITCH, NETWORK], field_name="code")
    if len(partners) < 3 or RateCard.objects.filter(partner=partners[ACQUIRER]).exists():
        return None
    if get_user_model().objects.filter(username__in=["partner_manager", "lead"]).count() < 2:
        return None
    today = today or timezone.localdate()
    checked = last_complete_month(today)
    months = [months_back(checked, n) for n in range(MONTHS - 1, -1, -1)]
    _approved_cards([partners[ACQUIRER], partners[SWITCH], partners[NETWORK]], date(months[0].year - 1, 1, 1))
    rng = random.Random(SEED)
    giros = _giros()
    records, switch_lines, network_lines = [], [], []
    for month in months:
        generated = _Month(rng, month, giros, checked=month == checked)
        generated.everyday()
        if generated.checked:
            generated.errors()
        records += generated.records
        switch, network = generated.invoice_lines()
        switch_lines += switch
        network_lines += network
    fee_import(records, partner=partners[ACQUIRER], shape="records")
    fee_import(switch_lines, partner=partners[SWITCH], shape="invoice", mapping={"fee_codes": SWITCH_CODES})
    fee_import(network_lines, partner=partners[NETWORK], shape="invoice", mapping={"fee_codes": NETWORK_CODES})
    found = costs_check(period=checked).by_kind  # the months before are clean: the desk checks the last
    return {"records": len(records), "invoice_lines": len(switch_lines) + len(network_lines), "findings": found}
