"""Financial partners, their contacts, their business calendars and the notice templates.

A partner is anyone the desk corresponds with about a breakage: issuers, acquirers, card
networks, switches, processors, 3DS servers, token services, aggregators.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.lookups import Regex
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel
from payhealth.i18n import Language, validate_timezone
from payhealth.pan import card_number_error, contains_card_number, is_card_number


def validate_partner_bin_prefix(value: str) -> None:
    """6 to 8 digits; a card number is refused without being quoted (as on incidents)."""
    compact = re.sub(r"[\s-]", "", value or "")
    if contains_card_number(value) or is_card_number(compact):
        raise card_number_error()
    if not re.match(r"^\d{6,8}$", compact):
        raise ValidationError(
            _("%(value)s is not a BIN prefix (6 to 8 digits)."), params={"value": value}, code="bin_prefix"
        )


class BusinessCalendar(CardNumberFreeModel, models.Model):
    """When business time runs: a time zone, working hours per weekday and holidays.

    SLA clocks measure elapsed time against a calendar, so "4 business hours" for a SEV3 means
    Mexico City banking hours without Mexican bank holidays, while SEV1 uses the 24x7 calendar.
    """

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=120)
    timezone = models.CharField(_("time zone"), max_length=64, validators=[validate_timezone])
    is_24x7 = models.BooleanField(
        _("24x7"), default=False, help_text=_("Every hour of every day counts; hours and holidays are ignored.")
    )

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkingHours(CardNumberFreeModel, models.Model):
    """One open interval of a weekday in the calendar's own time zone."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="working_hours", verbose_name=_("calendar")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["calendar", "weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=Q(opens__lt=models.F("closes")),
                name="workinghours_opens_before_closes",
                violation_error_message=_("Opening time must be before closing time."),
            ),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="workinghours_weekday_valid"),
            models.UniqueConstraint(
                fields=["calendar", "weekday", "opens"],
                name="workinghours_unique_start",
                violation_error_message=_("These working hours already exist for that weekday."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class Holiday(CardNumberFreeModel, models.Model):
    """A whole day on which business time does not run in a calendar."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays", verbose_name=_("calendar")
    )
    date = models.DateField(_("date"))
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_es = models.CharField(_("name (Spanish)"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"],
                name="holiday_unique_date",
                violation_error_message=_("This calendar already has a holiday on that date."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name_en}"


class Partner(CardNumberFreeModel, models.Model):
    """A financial partner the desk corresponds with; its language is the default for contacts."""

    class Kind(models.TextChoices):
        ISSUER = "issuer", _("Issuer")
        ACQUIRER = "acquirer", _("Acquirer")
        CARD_NETWORK = "card_network", _("Card network")
        SWITCH = "switch", _("Switch")
        PROCESSOR = "processor", _("Processor")
        THREE_DS = "three_ds", _("3DS server")
        TOKEN_SERVICE = "token_service", _("Token service")
        AGGREGATOR = "aggregator", _("Aggregator / PSP")
        GATEWAY = "gateway", _("Gateway")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=160)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, db_index=True)
    country = models.CharField(_("country"), max_length=10, help_text=_("ISO country code, or GLOBAL / LATAM."))
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Mexico_City", validators=[validate_timezone]
    )
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.ENGLISH)
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="partners",
        verbose_name=_("calendar"),
        help_text=_("Business hours the partner keeps; empty means the desk's default calendar."),
    )
    bin_prefixes = ArrayField(
        models.CharField(max_length=32, validators=[validate_partner_bin_prefix]),
        verbose_name=_("BIN prefixes"),
        default=list,
        blank=True,
        help_text=_("An issuer's own BIN prefixes (6–8 digits): its notices show only these."),
    )
    notes = models.TextField(_("notes"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        indexes = [models.Index(fields=["active", "kind"], name="partner_active_kind_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Regex(
                    models.Func(
                        models.F("bin_prefixes"),
                        models.Value(","),
                        function="array_to_string",
                        output_field=models.TextField(),
                    ),
                    models.Value(r"^(\d{6,8}(,\d{6,8})*)?$"),
                ),
                name="partner_bin_prefixes_only",
                violation_error_message=_("BIN prefixes have 6 to 8 digits; card numbers are never stored."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class PartnerContact(CardNumberFreeModel, models.Model):
    """A person or mailbox at a partner; receives notices at its escalation level."""

    class Role(models.TextChoices):
        OPERATIONS = "operations", _("Operations")
        ESCALATION = "escalation", _("Escalation")
        ACCOUNT_MANAGER = "account_manager", _("Account manager")
        TECHNICAL = "technical", _("Technical")

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("partner"))
    name = models.CharField(_("name"), max_length=160)
    email = models.EmailField(_("email"))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.OPERATIONS)
    language = models.CharField(
        _("language"),
        max_length=2,
        choices=Language.choices,
        blank=True,
        help_text=_("Empty means the partner's language."),
    )
    receives_notices = models.BooleanField(_("receives notices"), default=True)
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation level"), default=1, validators=[MinValueValidator(1)], help_text=_("1 is the first line.")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("partner contact")
        verbose_name_plural = _("partner contacts")
        ordering = ["partner", "escalation_level", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "email"],
                name="partnercontact_unique_email",
                violation_error_message=_("This partner already has a contact with that email."),
            ),
            models.CheckConstraint(
                condition=Q(escalation_level__gte=1),
                name="partnercontact_level_positive",
                violation_error_message=_("Escalation levels start at 1."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def effective_language(self) -> str:
        """The contact's own language, else the partner's, else English."""
        return self.language or self.partner.language or Language.ENGLISH


class NoticeTemplate(CardNumberFreeModel, models.Model):
    """One version of a notice template for a kind and language.

    Versions are append-only: an edit creates a new row and deactivates the previous one, so a
    sent notice can always point at the exact text it used.
    """

    class Kind(models.TextChoices):
        BREAKAGE = "breakage", _("Breakage notice")
        UPDATE = "update", _("Update")
        RESOLUTION = "resolution", _("Resolution notice")
        RCA_REQUEST = "rca_request", _("RCA request")
        FOLLOW_UP = "follow_up", _("Follow-up")
        SLA_ESCALATION = "sla_escalation", _("SLA escalation")
        BILLING_DISCREPANCY = "billing_discrepancy", _("Billing discrepancy")
        ACCOUNT_UPDATE = "account_update", _("Internal update for the account team")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    partner_kind = models.CharField(
        _("partner kind"),
        max_length=20,
        choices=Partner.Kind.choices,
        blank=True,
        help_text=_("Empty: for partners of any kind; else only for that kind (its own asks)."),
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    subject = models.CharField(_("subject"), max_length=250)
    body = models.TextField(_("body"))
    active = models.BooleanField(_("active"), default=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notice template")
        verbose_name_plural = _("notice templates")
        ordering = ["kind", "partner_kind", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "language", "partner_kind", "version"],
                name="noticetemplate_unique_version",
                violation_error_message=_("That version of the template already exists."),
            ),
            models.UniqueConstraint(
                fields=["kind", "language", "partner_kind"],
                condition=Q(active=True),
                name="noticetemplate_one_active",
                violation_error_message=_("Another version of this template is already active for that language."),
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="noticetemplate_version_positive"),
        ]

    def __str__(self) -> str:
        for_kind = f" · {self.get_partner_kind_display()}" if self.partner_kind else ""
        return f"{self.get_kind_display()}{for_kind} ({self.language}) v{self.version}"
