"""A cost finding in one sentence, in the reader's language, from the figures it keeps."""

from __future__ import annotations

from django.utils.formats import number_format
from django.utils.translation import gettext as _


def _money(value) -> str | None:
    """17,500.00: two decimals, grouped (the active language's separators; Mexican in Spanish)."""
    return None if value is None else number_format(value, 2, force_grouping=True)


def _bps(value) -> str | None:
    return None if value is None else number_format(value, 2)


def cohort_text(cohort: dict, clean=str) -> str:
    """ "network: visa; funding: Debit; Domestic; …" in the active language (choice values by their
    label; the region's label says it all); `clean` writes a partner's value (the notices make it inert)."""
    from costs.models import MATCH_KEYS, CohortFields

    order = {key: n for n, key in enumerate(MATCH_KEYS)}
    pairs = sorted(((str(k), str(v)) for k, v in (cohort or {}).items()), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    parts = []
    for key, value in pairs:
        if key not in order:
            parts.append(f"{clean(key)}: {clean(value)}")
            continue
        field = CohortFields._meta.get_field(key)
        shown = str(dict(field.choices).get(value, value)) if field.choices else value
        parts.append(clean(shown) if key == "region" and shown != value else f"{field.verbose_name}: {clean(shown)}")
    return "; ".join(parts) or str(_("all cohorts"))


def finding_explanation(finding) -> str:
    figures = {
        "partner": finding.partner,
        "period": finding.period.strftime("%Y-%m"),
        "cohort": cohort_text(finding.cohort),
        "fee": finding.get_fee_type_display() or finding.fee_code,
        "count": number_format(finding.count, 0, force_grouping=True),
        "volume": _money(finding.volume),
        "expected_bps": _bps(finding.expected_bps),
        "billed_bps": _bps(finding.billed_bps),
        "delta_bps": _bps(finding.delta_bps),
        "expected": _money(finding.expected_amount),
        "billed": _money(finding.billed_amount),
        "amount": _money(finding.amount),
        "currency": finding.currency,
        "version": finding.rate_card_version,
        **{key: value for key, value in finding.details.items() if not isinstance(value, list | dict)},
    }
    kind = finding.Kind
    if finding.kind == kind.RATE_DEVIATION:
        text = _(
            "%(partner)s billed %(fee)s at %(billed_bps)s bps for %(cohort)s in %(period)s where rate card "
            "version %(version)s gives %(expected_bps)s bps: %(billed)s billed against %(expected)s expected "
            "on %(count)s transactions and %(volume)s %(currency)s, a difference of %(amount)s %(currency)s."
        )
    elif finding.kind == kind.COST_REGRESSION:
        text = _(
            "%(partner)s billed %(fee)s at %(billed_bps)s bps for %(cohort)s in %(period)s, up from a median of "
            "%(expected_bps)s bps over the previous three months with no rate card change: %(amount)s "
            "%(currency)s more on %(volume)s %(currency)s."
        )
    elif finding.kind == kind.DOWNGRADE_SPIKE:
        text = _(
            "Downgraded transactions of %(partner)s for %(cohort)s rose to %(share_pct)s %% in %(period)s from "
            "%(baseline_share_pct)s %% before (%(downgraded)s of %(count)s, q = %(q_value).2g); the excess "
            "downgrades cost about %(amount)s %(currency)s."
        )
    elif finding.kind == kind.COST_SPIKE:
        figures.setdefault("window_start", finding.period.isoformat())
        figures.setdefault("window_end", finding.period.isoformat())
        figures.setdefault("q_value", 1.0)
        figures["cohort"] = (
            _("merchant %(merchant)s") % {"merchant": finding.cohort["merchant"]}
            if finding.cohort.get("merchant")
            else _("all its merchants")
        )
        text = _(
            "The effective cost of %(partner)s for %(cohort)s, all fees together, rose to %(billed_bps)s bps "
            "from %(window_start)s to %(window_end)s, from %(expected_bps)s bps over the 28 days before "
            "(q = %(q_value).2g): %(amount)s %(currency)s more on %(volume)s %(currency)s, whether or not "
            "each fee follows the rate card."
        )
    elif finding.kind == kind.DUPLICATE_FEE:
        text = _(
            "%(partner)s billed %(fee)s twice or more for %(references)s references in %(period)s: %(count)s "
            "extra charges, %(amount)s %(currency)s."
        )
    elif finding.kind == kind.UNKNOWN_FEE:
        text = _(
            "%(partner)s billed %(amount)s %(currency)s in %(period)s under fee code %(fee)s, which no mapping names."
        )
    elif finding.kind == kind.CROSS_BORDER_MISCLASS:
        text = _(
            "%(partner)s charged a cross-border fee on %(count)s transactions in %(period)s whose issuer and "
            "merchant are in the same country (%(cohort)s): %(amount)s %(currency)s."
        )
    else:
        text = _(
            "%(partner)s billed interchange of %(amount)s %(currency)s (%(billed_bps)s bps) in %(period)s on "
            "%(cohort)s, a giro without interchange."
        )
    return text % figures
