import pytest

from tests.cases.pir.scenario import ReportDesk, build_report_desk


@pytest.fixture
def report_desk(db, lead) -> ReportDesk:
    return build_report_desk(lead)
