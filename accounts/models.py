"""A user's own preferences: the time zone every date is shown in, and the UI language."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from partners.models import Language, validate_timezone


class Profile(models.Model):
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
