"""What each authorization response code means: reference data loaded from `cases/data/`."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class ResponseCode(CardNumberFreeModel, models.Model):
    """What an authorization response code means (ISO 8583, Stripe, scheme-specific).

    Loaded from the bundled `cases/data/decline_codes.csv`; incidents list the codes they saw
    and pages show each with its meaning (in the reader's language) and category.

    Schemes: `iso8583` (response codes as networks send them), `emv` (codes a card-present
    terminal generates itself, e.g. Z3 when the host or switch cannot be reached), `stripe`, and
    `mastercard_mac` (Mastercard Merchant Advice Codes: advice that travels beside a decline, not a
    response code; never matched against an incident's decline codes). `visa_category` is Visa's
    retry category where it applies: 1 never retry, 2 retry later, 3 fix the data first, 4 generic.
    """

    ADVICE_SCHEMES = ("mastercard_mac",)

    class VisaCategory(models.IntegerChoices):
        NEVER = 1, _("1 · Issuer will never approve")
        LATER = 2, _("2 · Issuer cannot approve at this time")
        DATA = 3, _("3 · Data quality: correct the data before retrying")
        GENERIC = 4, _("4 · Generic response")

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
    meaning_es = models.CharField(_("meaning (Spanish)"), max_length=250, blank=True)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    retryable = models.BooleanField(_("retryable"), default=False)
    visa_category = models.PositiveSmallIntegerField(
        _("Visa category"),
        null=True,
        blank=True,
        choices=VisaCategory.choices,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
    )

    class Meta:
        verbose_name = _("response code")
        verbose_name_plural = _("response codes")
        ordering = ["scheme", "code"]
        constraints = [models.UniqueConstraint(fields=["scheme", "code"], name="responsecode_unique_code")]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.code} {self.meaning}"

    def meaning_in(self, language: str | None = None) -> str:
        """The meaning in `language` (the active one by default): Spanish when there is one."""
        language = language or get_language() or "en"
        if language.split("-")[0] == "es" and self.meaning_es:
            return self.meaning_es
        return self.meaning

    @property
    def localized_meaning(self) -> str:
        return self.meaning_in()
