"""A user's own preferences: the time zone every date is shown in, and the UI language."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel
from payhealth.i18n import Language, validate_timezone


class Profile(CardNumberFreeModel, models.Model):
    """Per-user display preferences; created on first need, so every user has one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile", verbose_name=_("user")
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Mexico_City", validators=[validate_timezone]
    )
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, blank=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return str(self.user)


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
