import pytest
from django.core.cache import cache

from webhooks.selectors import SUBSCRIBED_TYPES_KEY


@pytest.fixture(autouse=True)
def _forget_cached_subscribers():
    """Subscriptions made with factories bypass the services that clear the cached set."""
    cache.delete(SUBSCRIBED_TYPES_KEY)
    yield
    cache.delete(SUBSCRIBED_TYPES_KEY)


@pytest.fixture
def fast_retries(settings):
    settings.PAYHEALTH_WEBHOOK_RETRY_BACKOFF = 0
    settings.PAYHEALTH_WEBHOOK_RETRY_BACKOFF_MAX = 0
    settings.PAYHEALTH_WEBHOOK_TIMEOUT = 2
    return settings
