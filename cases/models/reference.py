"""Reference data: response (decline) codes and the merchants whose health the desk watches."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ResponseCode(models.Model):
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


class Merchant(models.Model):
    """A merchant account whose authorization and cost rates the desk watches."""

    class Segment(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        STRATEGIC = "strategic", _("Strategic")
        MID_MARKET = "mid_market", _("Mid-market")
        PLATFORM = "platform", _("Platform")

    account_id = models.CharField(
        _("account id"),
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^acct_[A-Za-z0-9]{6,40}$", _("Use an account id like acct_1Nv0FGQ9RKHgCVdK."))],
    )
    name = models.CharField(_("name"), max_length=160)
    country = models.CharField(_("country"), max_length=2)
    mcc = models.CharField(
        _("MCC"), max_length=4, validators=[RegexValidator(r"^\d{4}$", _("An MCC has four digits."))]
    )
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices, default=Segment.ENTERPRISE)
    account_manager = models.CharField(_("account manager"), max_length=160, blank=True)
    account_manager_email = models.EmailField(_("account manager email"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(mcc__regex=r"^\d{4}$"),
                name="merchant_mcc_four_digits",
                violation_error_message=_("An MCC has four digits."),
            ),
            models.CheckConstraint(
                condition=Q(account_id__startswith="acct_"),
                name="merchant_account_id_prefix",
                violation_error_message=_("Use an account id like acct_1Nv0FGQ9RKHgCVdK."),
            ),
        ]

    def __str__(self) -> str:
        return self.name
