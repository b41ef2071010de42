"""The case timeline: one append-only row per change, written in the change's transaction."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class CaseEvent(CardNumberFreeModel, models.Model):
    """Who changed what on an incident, and when. Rows are never updated or deleted.

    `data` holds the facts of the change with the fixed keys of its kind's payload class
    (`cases.timeline.events`); services write rows with `cases.timeline.record`.
    """

    class Kind(models.TextChoices):
        OPENED = "opened", _("Incident opened")
        STATUS_CHANGED = "status_changed", _("Status changed")
        SEVERITY_CHANGED = "severity_changed", _("Severity changed")
        OWNER_CHANGED = "owner_changed", _("Owner changed")
        DETAILS_CHANGED = "details_changed", _("Details changed")
        NOTE_ADDED = "note_added", _("Note added")
        NOTE_EDITED = "note_edited", _("Note edited")
        MERCHANT_ADDED = "merchant_added", _("Merchant added")
        MERCHANT_UPDATED = "merchant_updated", _("Merchant impact updated")
        MERCHANT_REMOVED = "merchant_removed", _("Merchant removed")
        PARTNER_ENGAGED = "partner_engaged", _("Partner engaged")
        PARTNER_UPDATED = "partner_updated", _("Partner engagement updated")
        NOTICE_DRAFTED = "notice_drafted", _("Notice drafted")
        NOTICE_EDITED = "notice_edited", _("Notice edited")
        NOTICE_SUBMITTED = "notice_submitted", _("Notice submitted for approval")
        NOTICE_APPROVED = "notice_approved", _("Notice approved")
        NOTICE_REJECTED = "notice_rejected", _("Notice rejected")
        NOTICE_QUEUED = "notice_queued", _("Notice queued")
        NOTICE_SENT = "notice_sent", _("Notice sent")
        NOTICE_FAILED = "notice_failed", _("Notice failed")
        REPLY_RECEIVED = "reply_received", _("Reply received")
        PARTNER_ACKNOWLEDGED = "partner_acknowledged", _("Partner acknowledged")
        REPLY_FACT_CONFIRMED = "reply_fact_confirmed", _("Folio or ETA confirmed from a reply")
        ALERT_RECEIVED = "alert_received", _("Monitoring alert received")
        FINDING_LINKED = "finding_linked", _("Detector finding linked")
        RESOLUTION_PROPOSED = "resolution_proposed", _("Resolution proposed")
        CARD_NUMBERS_MASKED = "card_numbers_masked", _("Card numbers masked")
        FINDING_DECIDED = "finding_decided", _("Detector finding decided")
        BILLING_CASE_OPENED = "billing_case_opened", _("Billing case opened")
        BILLING_CASE_AMENDED = "billing_case_amended", _("Billing case amended")
        CREDIT_NOTE_RECORDED = "credit_note_recorded", _("Credit note recorded")
        PARTNER_PORTAL_ANSWERED = "partner_portal_answered", _("Partner answered through the link")
        ACK_LINK_REVOKED = "ack_link_revoked", _("Acknowledgement link revoked")
        DECLINE_COUNTS_CHANGED = "decline_counts_changed", _("Decline-code counts changed")
        SAMPLES_UPLOADED = "samples_uploaded", _("Sample transactions uploaded")
        SAMPLES_REMOVED = "samples_removed", _("Sample transactions removed")
        SLA_PAUSED = "sla_paused", _("SLA clock paused")
        SLA_RESUMED = "sla_resumed", _("SLA clock resumed")
        SLA_WARNING = "sla_warning", _("SLA warning")
        SLA_BREACHED = "sla_breached", _("SLA breached")
        SLA_ESCALATION_WAITING = "sla_escalation_waiting", _("SLA escalation waiting for the partner text")
        REPORT_ATTACHED = "report_attached", _("Post-incident report attached")
        RCA_REQUESTED = "rca_requested", _("RCA requested")
        RCA_CHANGED = "rca_changed", _("RCA status changed")
        ACTION_ITEM_ADDED = "action_item_added", _("Action item added")
        ACTION_ITEM_CHANGED = "action_item_changed", _("Action item changed")

    incident = models.ForeignKey(
        "cases.Incident", on_delete=models.CASCADE, related_name="events", verbose_name=_("incident")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
        help_text=_("Empty for changes made by PayHealth itself (alerts, sweeps, mail)."),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["incident", "created_at", "id"]
        indexes = [
            models.Index(fields=["incident", "created_at"], name="caseevent_incident_time_idx"),
            models.Index(fields=["kind", "created_at"], name="caseevent_kind_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_kind_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Case events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Case events are append-only.")
