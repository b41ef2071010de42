"""A user's saved queue filters ("my open SEV1/2", "waiting on Prosa")."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class SavedView(CardNumberFreeModel, models.Model):
    """A named query string of the incident queue, private to its owner."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=2000, blank=True, help_text=_("The queue's query string."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["owner", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                name="savedview_unique_name",
                violation_error_message=_("You already have a saved view with that name."),
            )
        ]

    def __str__(self) -> str:
        return self.name
