import pytest

from tests.factories import UserFactory


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
