"""The rules build clocks and events without the model constructor's keywords (`rules._unsaved`)
and read a clock's state from its columns positionally: both must give what the plain way gives."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases.models import SlaClock, SlaClockEvent
from cases.sla import rules
from partners.businesstime import Schedule

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def columns(row) -> dict:
    return {name: value for name, value in vars(row).items() if name != "_state"}


def test_the_clock_state_lists_its_fields_in_the_order_the_fold_writes_them():
    assert tuple(field for field in rules.ClockState.__dataclass_fields__) == rules.STATE_FIELDS


@pytest.mark.django_db
def test_a_new_clock_and_its_events_are_the_rows_the_constructor_builds():
    policy = rules.SlaPolicy.objects.select_related("calendar").filter(active=True).first()
    assert policy is not None  # the default policies of the migrations

    clock = rules.new_clock(incident_id=7, metric=rules.Metric.ACKNOWLEDGE, policy=policy, engagement=None, at=AT)
    plain = SlaClock(
        incident_id=7,
        engagement=None,
        family=rules.Family.OURS,
        metric=rules.Metric.ACKNOWLEDGE,
        policy=policy,
        calendar_id=policy.calendar_id_for(None),
        target=policy.acknowledge_target,
        warn_after=rules.warn_after_for(policy, policy.acknowledge_target),
        state=rules.State.RUNNING,
        started_at=AT,
        consumed_at=AT,
    )
    assert columns(clock) == columns(plain)
    assert clock._state.adding and clock._state.db is None
    assert clock.policy is policy
    always = {clock.calendar_id: Schedule(tz=ZoneInfo("UTC"), always_open=True)}

    event = rules.fold_event(clock, rules.Kind.PAUSE, AT + timedelta(minutes=3), reason="waiting", schedules=always)
    plain_event = SlaClockEvent(clock=clock, kind=rules.Kind.PAUSE, at=AT + timedelta(minutes=3), reason="waiting")
    plain_event.data = {}
    plain_event.cycle = 1
    assert columns(event) == columns(plain_event)
    assert event.clock is clock and event._state.adding


def test_a_row_missing_a_column_is_refused():
    with pytest.raises(KeyError, match="notified_at"):
        rules._unsaved(
            SlaClockEvent, {}, id=None, clock_id=None, kind="warn", at=AT, reason="", actor_id=None, data={}, cycle=1
        )
