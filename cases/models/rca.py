"""Root-cause analyses asked of partners, and the action items that come out of an incident."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from payhealth.db import CardNumberFreeModel


class RcaRequest(CardNumberFreeModel, models.Model):
    """A root-cause analysis asked of one partner about one incident.

    Its life: `requested → received → accepted | rejected` (a rejected RCA may be received again).
    `due_at` is computed on the partner's business calendar when the request is sent.
    """

    class Status(models.TextChoices):
        # "the RCA": masculine in Spanish ("el análisis"), unlike a received reply
        REQUESTED = "requested", pgettext_lazy("RCA status", "Requested")
        RECEIVED = "received", pgettext_lazy("RCA status", "Received")
        ACCEPTED = "accepted", pgettext_lazy("RCA status", "Accepted")
        REJECTED = "rejected", pgettext_lazy("RCA status", "Rejected")

    incident = models.ForeignKey(
        "cases.Incident", on_delete=models.CASCADE, related_name="rca_requests", verbose_name=_("incident")
    )
    engagement = models.ForeignKey(
        "cases.PartnerEngagement", on_delete=models.CASCADE, related_name="rca_requests", verbose_name=_("partner")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    correspondence = models.ForeignKey(
        "cases.Correspondence",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("request notice"),
    )
    requested_at = models.DateTimeField(_("requested at"))
    due_at = models.DateTimeField(_("due"))
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    root_cause = models.TextField(_("root cause stated by the partner"), blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    reminders_sent = models.PositiveSmallIntegerField(_("reminders drafted"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("RCA request")
        verbose_name_plural = _("RCA requests")
        ordering = ["requested_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_at__gte=models.F("requested_at")), name="rca_due_after_request"),
            models.CheckConstraint(
                condition=Q(status="requested") | Q(received_at__isnull=False),
                name="rca_received_has_time",
                violation_error_message=_("A received RCA records when it arrived."),
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="rca_status_due_idx")]

    def __str__(self) -> str:
        return f"RCA {self.engagement_id} · {self.get_status_display()}"


class ActionItem(CardNumberFreeModel, models.Model):
    """Something to do so an incident does not happen again: ours, or a partner's."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    incident = models.ForeignKey(
        "cases.Incident", on_delete=models.CASCADE, related_name="action_items", verbose_name=_("incident")
    )
    rca = models.ForeignKey(
        RcaRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="action_items",
        verbose_name=_("RCA"),
    )
    title = models.CharField(_("action"), max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner at our desk"),
    )
    partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner at a partner"),
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="action_item_title_present"),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(done_at__isnull=False),
                name="action_item_done_has_time",
                violation_error_message=_("A done action item records when it was done."),
            ),
        ]

    def __str__(self) -> str:
        return self.title
