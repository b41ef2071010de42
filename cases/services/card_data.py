"""Card numbers already in the database: masked, and the incidents' search documents rebuilt."""

from __future__ import annotations

from django.apps import apps as live_apps
from django.db import transaction

from cases.search import refresh_search
from payhealth.pan_scrub import Scrubbed, mask_stored_card_numbers

# Whose text feeds an incident's search document (cases.search): the changed model, then where
# its incidents are found (model, the field holding the changed rows' keys, the incident's key).
_SEARCHED = {
    "cases.Incident": ("Incident", "pk", "pk"),
    "cases.InvestigationNote": ("InvestigationNote", "pk", "incident_id"),
    "cases.Merchant": ("AffectedMerchant", "merchant_id", "incident_id"),
    "partners.Partner": ("PartnerEngagement", "partner_id", "incident_id"),
}


@transaction.atomic
def card_numbers_scrub(*, apps=live_apps) -> Scrubbed:
    """Mask every card number stored anywhere (`payhealth.pan_scrub`), then rebuild the search
    document of every incident whose searched text changed, so no index keeps the digits.
    `apps`: the live registry (`manage.py mask_card_numbers`) or a migration's."""
    done = mask_stored_card_numbers(apps)
    incident_ids: set[int] = set()
    for label, (model_name, changed, incident) in _SEARCHED.items():
        if pks := done.rows.get(label):
            rows = apps.get_model("cases", model_name)._base_manager.filter(**{f"{changed}__in": pks})
            incident_ids |= set(rows.values_list(incident, flat=True))
    refresh_search(incident_ids=incident_ids)
    return done
