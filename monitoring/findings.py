"""What happens to a finding after the detector writes it: the incident flow (through the
alert-intake service), impact from the buckets, partner engagement, webhooks. The incident-flow
helper fills this module in; the detector calls the four hooks below after each change, inside
its transaction.
"""

from __future__ import annotations

from monitoring.models import Finding


def finding_opened(finding: Finding) -> None:
    """A new finding (watch or alerted)."""


def finding_escalated(finding: Finding) -> None:
    """A watch finding became an alert (or a new finding opened straight as an alert)."""


def finding_refreshed(finding: Finding) -> None:
    """An active finding's window grew or its figures changed (a later or a corrected bucket)."""


def finding_recovered(finding: Finding) -> None:
    """An active finding recovered (its segment back within the recovery band)."""


def finding_open_incident(*, finding: Finding, actor):
    """A person opens an incident from the finding (or updates the open one of its fingerprint)."""
    raise NotImplementedError


def finding_attach(*, finding: Finding, incident, actor):
    """A person attaches the finding to an existing incident."""
    raise NotImplementedError
