"""Writes for the cases app: one function per business action (STYLE.md "Domain logic").

Every service validates, locks what it changes, writes, and records timeline events in the
same transaction. HTML views, the API, admin actions, commands and tasks all call these.
Grouped by subject in the modules of this package and re-exported here.
"""

from cases.services.incidents import incident_open, incident_transition

__all__ = ["incident_open", "incident_transition"]
