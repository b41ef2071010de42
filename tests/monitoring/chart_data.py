"""A merchant with generated 15-minute buckets (3 slices and the merchant level) over the last two
days and the same two days of each of the four weeks before (the same-slot baseline of the
charts), with a Prosa outage 10 to 8 hours ago."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring import generator
from monitoring.models import Segment
from monitoring.rows import bucket_floor
from monitoring.services import buckets_upsert
from partners.models import Partner
from tests.factories import MerchantFactory, PartnerFactory

ACCOUNT = "acct_CHARTS00001"
WEEKS = 4  # the default baseline weeks
SPAN = timedelta(days=2)


def load_chart_merchant(*, now: datetime | None = None, slices: int = 3) -> dict:
    now = bucket_floor(now or datetime.now(UTC), 15)
    merchant = MerchantFactory(account_id=ACCOUNT, name="Tienda con Gráficas")
    for code, kind in (
        ("bbva-mx", Partner.Kind.ISSUER),
        ("prosa", Partner.Kind.SWITCH),
        ("e-global", Partner.Kind.SWITCH),
    ):
        PartnerFactory(code=code, name=code.upper(), kind=kind)
    outage = (now - timedelta(hours=10), now - timedelta(hours=8))
    profile = generator.profile(ACCOUNT, 600, issuers={"bbva-mx"}, routes={"prosa", "e-global"}, count=slices)
    regressions = [generator.RouteOutage(start=outage[0], end=outage[1], route="prosa", failure=0.5)]
    rows = []
    for week in range(WEEKS + 1):  # the last two days, and the same two days of each earlier week
        end = now - timedelta(weeks=week)
        rows += generator.generate(
            [profile], start=end - SPAN, end=end, minutes=15, holidays=frozenset(), regressions=regressions
        )
    buckets_upsert(rows, source="test", now=now)
    segment = Segment.objects.get(merchant=merchant, parent__isnull=True)
    return {"merchant": merchant, "segment": segment, "now": now, "outage": outage}
