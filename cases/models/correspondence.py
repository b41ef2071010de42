"""Correspondence: every message exchanged with a partner about an incident, both ways."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.models.incident import Severity
from partners.models import NoticeTemplate
from payhealth.db import CardNumberFreeModel
from payhealth.i18n import Language


class Correspondence(CardNumberFreeModel, models.Model):
    """One message in a partner thread.

    The Message-ID is fixed when the row is created, so a redelivered task can never send a
    different message twice. Inbound mail that matches no incident keeps `incident` empty and
    waits in the triage inbox.

    `peak_severity` is the most severe the incident was from the moment a notice was drafted
    until it left for delivery (composing sets it, the severity-change service raises it). A
    notice needs a lead's approval when that, or the incident's severity now, is SEV1 or SEV2:
    lowering the incident for a moment cannot let a SEV1 draft go out unapproved.

    Sending is recorded in two steps (cases/correspondence/delivery.py): `sent` at once, in a short
    transaction, then its consequences (the timeline row, the SLA clocks, the partner's first
    notice), stamped by `consequences_at`; a sweep completes the second step if a worker stopped
    between the two.
    """

    class Direction(models.TextChoices):
        OUTBOUND = "out", _("Outbound")
        INBOUND = "in", _("Inbound")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        PORTAL = "portal", _("Partner portal")
        CHAT = "chat", _("Chat")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING_APPROVAL = "pending_approval", _("Pending approval")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        RECEIVED = "received", _("Received")

    incident = models.ForeignKey(
        "cases.Incident",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="correspondence",
        verbose_name=_("incident"),
    )
    engagement = models.ForeignKey(
        "cases.PartnerEngagement",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("partner engagement"),
    )
    merchant = models.ForeignKey(
        "cases.Merchant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("merchant"),
        help_text=_("An internal update to this merchant's account manager (never sent to a partner)."),
    )
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    kind = models.CharField(_("notice kind"), max_length=20, choices=NoticeTemplate.Kind.choices, blank=True)
    template = models.ForeignKey(
        NoticeTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("template")
    )
    template_version = models.PositiveIntegerField(_("template version"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.ENGLISH)
    subject = models.CharField(_("subject"), max_length=300)
    body_text = models.TextField(_("text body"), blank=True)
    body_html = models.TextField(_("HTML body"), blank=True)
    from_address = models.CharField(_("from"), max_length=254, blank=True)
    to_addresses = ArrayField(models.EmailField(), verbose_name=_("to"), default=list, blank=True)
    cc_addresses = ArrayField(models.EmailField(), verbose_name=_("cc"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.DRAFT)
    peak_severity = models.CharField(
        _("highest severity since drafted"),
        max_length=4,
        choices=Severity.choices,
        blank=True,
        help_text=_("The most severe the incident was since the notice was drafted; empty for received mail."),
    )
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=255, blank=True)
    references = models.TextField(_("References"), blank=True)
    is_auto_reply = models.BooleanField(_("auto-reply or bounce"), default=False)
    masked_card_numbers = models.PositiveIntegerField(
        _("card numbers masked"),
        default=0,
        help_text=_("How many card numbers a received message held; they were masked before it was stored."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    sent_at_header = models.DateTimeField(
        _("Date header"),
        null=True,
        blank=True,
        help_text=_("When a received message says it was written (its Date header); empty when absent or unreadable."),
    )
    candidates = models.JSONField(
        _("folio and ETA candidates"),
        default=list,
        blank=True,
        help_text=_("The folios and estimated times a received message names, for a person to confirm."),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt at"), null=True, blank=True, help_text=_("When a notice waiting to be retried is due.")
    )
    possible_duplicates = models.PositiveIntegerField(
        _("possible duplicates"),
        default=0,
        help_text=_(
            "Attempts whose outcome was lost (the worker stopped while the server was taking the message): "
            "the partner may have received this notice more than once, always with the same Message-ID."
        ),
    )
    refused_addresses = ArrayField(models.EmailField(), verbose_name=_("refused recipients"), default=list, blank=True)
    consequences_at = models.DateTimeField(
        _("sending recorded at"),
        null=True,
        blank=True,
        help_text=_("When the sending was put on the timeline and the SLA clocks followed it."),
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("correspondence")
        verbose_name_plural = _("correspondence")
        ordering = ["created_at", "id"]
        permissions = [
            ("send_correspondence", _("Can send notices to partners")),
            ("approve_correspondence", _("Can approve SEV1/SEV2 notices")),
            ("triage_correspondence", _("Can attach unmatched replies to incidents")),
        ]
        indexes = [
            models.Index(fields=["incident", "created_at"], name="corr_incident_time_idx"),
            models.Index(fields=["status", "queued_at"], name="corr_status_queued_idx"),
            models.Index(fields=["in_reply_to"], name="corr_in_reply_to_idx"),
            models.Index(
                fields=["sent_at"],
                condition=Q(status="sent", consequences_at__isnull=True),
                name="corr_sent_unrecorded_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(message_id=""), name="corr_message_id_present"),
            models.CheckConstraint(
                condition=Q(direction="in") | Q(engagement__isnull=False) | Q(merchant__isnull=False),
                name="corr_outbound_has_engagement",
                violation_error_message=_(
                    "An outbound message belongs to a partner thread or to a merchant's account team."
                ),
            ),
            models.CheckConstraint(
                condition=Q(engagement__isnull=True) | Q(merchant__isnull=True),
                name="corr_partner_or_account_team",
                violation_error_message=_("A message goes to a partner or to a merchant's account team, not both."),
            ),
            models.CheckConstraint(
                condition=Q(direction="out") | Q(status="received"), name="corr_inbound_is_received"
            ),
            models.CheckConstraint(
                condition=Q(direction="in") | ~Q(status="received"), name="corr_outbound_not_received"
            ),
            models.CheckConstraint(condition=~Q(status="sent") | Q(sent_at__isnull=False), name="corr_sent_has_time"),
            models.CheckConstraint(
                condition=Q(direction="in") | ~Q(status__in=["draft", "pending_approval"]) | ~Q(peak_severity=""),
                name="corr_unsent_notice_has_peak_severity",
                violation_error_message=_("A notice waiting to be sent records the highest severity since drafted."),
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def addressee_name(self) -> str:
        """Whom the message is with, as the timeline names it: the partner, or a merchant's account
        team ("Laura Gómez · Farmacias Nube"); "" for a reply not tied to either."""
        if self.engagement_id:
            return self.engagement.partner.name
        if self.merchant_id:
            manager = self.merchant.account_manager or self.merchant.account_manager_email
            return f"{manager} · {self.merchant.name}" if manager else self.merchant.name
        return ""
