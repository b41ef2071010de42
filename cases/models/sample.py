"""Sample transactions of an incident: a few authorizations an analyst picked to show a partner."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel

# The card as a partner may see it: the first 6–8 digits, the masked middle, the last 4.
MASKED_CARD = r"^[0-9]{6,8}\*{1,9}[0-9]{4}$"


class SampleTransaction(CardNumberFreeModel, models.Model):
    """One sample authorization, uploaded by an analyst (a CSV), optionally for one partner.

    The card is kept masked (`415231******1234`): an uploaded file holding a full card number
    anywhere is refused whole (`cases.services.samples`). PayHealth's own payment data holds
    aggregates only, so samples always come from an analyst's file.
    """

    incident = models.ForeignKey(
        "cases.Incident", on_delete=models.CASCADE, related_name="samples", verbose_name=_("incident")
    )
    engagement = models.ForeignKey(
        "cases.PartnerEngagement",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="samples",
        verbose_name=_("partner engagement"),
        help_text=_("Empty: the sample goes to every partner's notice."),
    )
    merchant = models.ForeignKey(
        "cases.Merchant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("merchant"),
    )
    occurred_at = models.DateTimeField(_("date and time"))
    amount = models.DecimalField(_("amount"), max_digits=15, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    card = models.CharField(_("card (masked)"), max_length=21, blank=True)
    rrn = models.CharField(_("RRN"), max_length=12, blank=True)
    stan = models.CharField(_("STAN"), max_length=6, blank=True)
    auth_code = models.CharField(_("authorization code"), max_length=6, blank=True)
    response_code = models.CharField(_("response code"), max_length=4, blank=True)
    terminal_id = models.CharField(_("terminal ID"), max_length=16, blank=True)
    entry_mode = models.CharField(_("entry mode"), max_length=20, blank=True)
    line = models.PositiveIntegerField(_("line of the file"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"))

    class Meta:
        verbose_name = _("sample transaction")
        verbose_name_plural = _("sample transactions")
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["incident", "occurred_at"], name="sample_incident_time_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(card="") | Q(card__regex=MASKED_CARD),
                name="sample_card_masked",
                violation_error_message=_("Keep the first 6–8 digits and the last 4 of a card at most."),
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="sample_currency_code"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.currency} {self.amount}"
