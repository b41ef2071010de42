import socket

import pytest
from django.core.cache import cache

from webhooks import targets
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


@pytest.fixture
def no_allowed_hosts(settings):
    """Production's default: no host is an exception to the refusal of internal addresses."""
    settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = []
    return settings


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    """The resolver, at the network edge: each name resolves to the addresses the test gives it
    (changed at any time, as a DNS server rebinding a name would); other names do not resolve."""
    answers: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answers[host])

    monkeypatch.setattr(targets, "resolve", resolve)
    return answers
