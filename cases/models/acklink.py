"""Acknowledgement links: one signed link per notice, for the partner to answer without email."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class AckLink(CardNumberFreeModel, models.Model):
    """The link a notice carries to the partner's acknowledgement page.

    Made when the notice is drafted (the text a lead approves is the text sent). The link's
    token is `key` (random, unguessable) signed with the site's secret; it opens one page, for
    this partner on this incident only, until `expires_at`, unless the desk revoked it.
    `uses` counts the answers given through it.
    """

    correspondence = models.OneToOneField(
        "cases.Correspondence", on_delete=models.CASCADE, related_name="ack_link", verbose_name=_("notice")
    )
    engagement = models.ForeignKey(
        "cases.PartnerEngagement",
        on_delete=models.CASCADE,
        related_name="ack_links",
        verbose_name=_("partner engagement"),
    )
    key = models.CharField(_("key"), max_length=43, unique=True, editable=False)
    recipients = ArrayField(models.EmailField(), verbose_name=_("recipients"), default=list, blank=True)
    expires_at = models.DateTimeField(_("valid until"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    uses = models.PositiveIntegerField(_("answers given"), default=0)
    last_used_at = models.DateTimeField(_("last answer at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("acknowledgement link")
        verbose_name_plural = _("acknowledgement links")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(key=""), name="acklink_key_present")]

    def __str__(self) -> str:
        return f"{self.engagement_id}/{self.correspondence_id}"
