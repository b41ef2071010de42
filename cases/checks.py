"""System checks of the cases app, run by `manage.py check --deploy`."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning as CheckWarning
from django.core.checks import register


@register(deploy=True)
def desk_contact_check(app_configs, **kwargs) -> list[CheckWarning]:
    """Every partner notice signs with our desk's 24×7 line (cases.correspondence.context.desk_contact);
    a deployment without it sends notices a partner's NOC cannot call back."""
    if (settings.PAYHEALTH_DESK_PHONE or "").strip():
        return []
    return [
        CheckWarning(
            "PAYHEALTH_DESK_PHONE is empty: partner notices will carry no 24x7 phone for the desk.",
            hint="Set PAYHEALTH_DESK_PHONE, and PAYHEALTH_DESK_BRIDGE_URL and PAYHEALTH_DESK_ESCALATION_NAME "
            "when the desk has a bridge and an escalation manager.",
            id="cases.W001",
        )
    ]
