"""What each authorization response code means: reference data loaded from `cases/data/`."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class ResponseCode(CardNumberFreeModel, models.Model):
    """What an authorization response code means (ISO 8583, Stripe, scheme-specific).

    Loaded from the bundled `cases/data/decline_codes.csv`; incidents list the codes they saw
    and pages show each with its meaning and category.
    """

    class Category(models.TextChoices):
        APPROVED = "approved", _("Approved")
        SOFT = "soft", _("Soft decline")
        HARD = "hard", _("Hard decline")
        FRAUD = "fraud", _("Fraud")
        TECHNICAL = "technical", _("Technical")
        ISSUER_UNAVAILABLE = "issuer_unavailable", _("Issuer unavailable")
        AUTHENTICATION = "authentication", _("Authentication")
        DATA_ERROR = "data_error", _("Data error")
        MERCHANT_CONFIG = "merchant_config", _("Merchant configuration")
        REFERRAL = "referral", _("Referral")
        COMPLIANCE = "compliance", _("Compliance")
        TEST = "test", _("Test")

    scheme = models.CharField(_("scheme"), max_length=20)
    code = models.CharField(_("code"), max_length=64)
    meaning = models.CharField(_("meaning"), max_length=250)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    retryable = models.BooleanField(_("retryable"), default=False)

    class Meta:
        verbose_name = _("response code")
        verbose_name_plural = _("response codes")
        ordering = ["scheme", "code"]
        constraints = [models.UniqueConstraint(fields=["scheme", "code"], name="responsecode_unique_code")]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.code} {self.meaning}"
