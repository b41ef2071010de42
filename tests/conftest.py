import pytest

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _reference_data_after_flush(request):
    """Put back what migrations load (roles, calendars, codes, SLA policies) after a flush.

    Transactional tests (live server, threads) end with a TRUNCATE of every table, which also
    removes rows that data migrations created; the next test needs them again.
    """
    if "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        marker = request.node.get_closest_marker("django_db")
        if not (marker and marker.kwargs.get("transaction")):
            return
    request.getfixturevalue("transactional_db")
    from django.contrib.auth.models import Group, Permission

    if Group.objects.exists():
        return
    from accounts.roles import sync_roles
    from cases.models import ResponseCode, SlaPolicy
    from cases.reference_data import load_response_codes
    from cases.sla.policies import load_billing_sla_policies, load_default_sla_policies
    from partners.models import BusinessCalendar, Holiday, NoticeTemplate, WorkingHours
    from partners.notices import load_notice_templates
    from partners.reference import load_calendars

    load_calendars(BusinessCalendar, WorkingHours, Holiday)
    load_response_codes(ResponseCode)
    load_default_sla_policies(SlaPolicy, BusinessCalendar)
    load_billing_sla_policies(SlaPolicy, BusinessCalendar)
    load_notice_templates(NoticeTemplate)
    sync_roles(Group, Permission)
    from alerts.models import AlertSeverityRule
    from alerts.reference import load_default_severity_rules

    load_default_severity_rules(AlertSeverityRule)


@pytest.fixture(autouse=True)
def _empty_cache_before_each_test():
    """Login failures and API throttling count in the cache: no test inherits another's counts
    (or is locked out by another's wrong passwords)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """Requests activate their language in the thread; put English back for the next test."""
    yield
    from django.utils import translation

    translation.activate("en")


@pytest.fixture
def analyst(db):
    return UserFactory(username="ana", role="analyst")


@pytest.fixture
def partner_manager(db):
    return UserFactory(username="pablo", role="partner_manager")


@pytest.fixture
def lead(db):
    return UserFactory(username="lucia", role="lead")


@pytest.fixture
def outsider(db):
    """Logged in, but in no role: sees nothing of the desk."""
    return UserFactory(username="otto")
