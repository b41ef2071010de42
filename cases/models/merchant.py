"""The merchants whose authorization and cost rates the desk watches."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel
from payhealth.i18n import Language


class Merchant(CardNumberFreeModel, models.Model):
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
    account_manager_language = models.CharField(
        _("account manager language"),
        max_length=2,
        choices=Language.choices,
        blank=True,
        help_text=_("The language of the internal updates to the account manager; empty means English."),
    )
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


class MerchantRoute(CardNumberFreeModel, models.Model):
    """A partner a merchant's authorizations go through (its acquirer, switch, processor…), with the
    affiliation number (merchant ID) that partner gave the merchant: what its NOC searches by."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="routes", verbose_name=_("merchant"))
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="merchant_routes", verbose_name=_("partner")
    )
    affiliation = models.CharField(
        _("affiliation number"),
        max_length=40,
        blank=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9 ./-]*$", _("Letters, digits, spaces, dots, dashes and slashes only.")
            )
        ],
        help_text=_("The merchant ID (número de afiliación) this partner assigned."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant route")
        verbose_name_plural = _("merchant routes")
        ordering = ["merchant", "partner"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "partner"],
                name="merchantroute_unique",
                violation_error_message=_("This merchant already has a route through that partner."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant} → {self.partner}" + (f" ({self.affiliation})" if self.affiliation else "")
