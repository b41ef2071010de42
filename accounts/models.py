"""A user's own preferences: the time zone every date is shown in, the UI language and the
incident queue's columns."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel
from payhealth.i18n import Language, validate_timezone

# The incident queue's optional columns, in the order the queue shows them; the reference and the
# title are always shown. A profile without a choice gets QUEUE_COLUMNS_DEFAULT.
QUEUE_COLUMNS = ("severity", "status", "sla", "category", "owner", "partners", "merchants", "opened", "age", "updated")
QUEUE_COLUMNS_DEFAULT = ("severity", "status", "sla", "owner", "partners", "merchants", "age", "updated")


def validate_queue_columns(value) -> None:
    """A list of distinct known column keys (or None: the default columns)."""
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise ValidationError(_("Choose columns from the list."), code="invalid")
    unknown = [key for key in value if key not in QUEUE_COLUMNS]
    if unknown:
        raise ValidationError(
            _("Unknown column: %(column)s.") % {"column": ", ".join(key[:40] for key in unknown[:3])}, code="invalid"
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("Each column can be chosen once."), code="invalid")


class Profile(CardNumberFreeModel, models.Model):
    """Per-user display preferences; created on first need, so every user has one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile", verbose_name=_("user")
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Mexico_City", validators=[validate_timezone]
    )
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, blank=True)
    queue_columns = models.JSONField(
        _("queue columns"),
        null=True,
        blank=True,
        default=None,
        validators=[validate_queue_columns],
        help_text=_("The optional columns the incident queue shows; empty: the default columns."),
    )

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return str(self.user)

    @property
    def chosen_queue_columns(self) -> tuple[str, ...]:
        """The optional columns to show, in the queue's order; the default when none were chosen
        (or when a stored choice no longer validates)."""
        try:
            validate_queue_columns(self.queue_columns)
        except ValidationError:
            return QUEUE_COLUMNS_DEFAULT
        if self.queue_columns is None:
            return QUEUE_COLUMNS_DEFAULT
        return tuple(key for key in QUEUE_COLUMNS if key in self.queue_columns)


class ApiToken(CardNumberFreeModel, models.Model):
    """A personal API token: `ph_<prefix>_<secret>`, shown once, stored as a SHA-256 digest.

    The token acts as its user, with exactly the user's roles; revoking it is immediate. The
    prefix is kept in clear so a person can tell their tokens apart and the lookup is indexed.
    The secret is 32 random bytes, so a fast hash is enough (nothing to brute-force).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=80, help_text=_("What the token is for, e.g. the monitoring job."))
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    digest = models.CharField(_("digest"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="apitoken_unique_active_name",
                violation_error_message=_("You already have an active token with this name."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (ph_{self.prefix}_…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
