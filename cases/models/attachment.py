"""Files of a message: what inbound mail or a partner's answer brought, what a notice carries."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class Attachment(CardNumberFreeModel, models.Model):
    """One file of a message, kept in the database with the message.

    A file over PAYHEALTH_INBOUND_MAX_ATTACHMENT_BYTES is not kept: its row stays, with its name,
    type and size and `omitted` set, so the message says what was left out instead of silently
    losing it. Attachments are always served as downloads, never rendered in the desk's pages.
    """

    correspondence = models.ForeignKey(
        "cases.Correspondence",
        on_delete=models.CASCADE,
        related_name="attachments",
        verbose_name=_("correspondence"),
    )
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=255)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    content = models.BinaryField(_("content"), blank=True, default=b"")
    omitted = models.BooleanField(
        _("not kept"), default=False, help_text=_("Larger than the attachment size limit: only its name was kept.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["correspondence", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(filename=""), name="attachment_filename_present"),
        ]

    def __str__(self) -> str:
        return self.filename

    @classmethod
    def kept(cls, correspondence, *, filename: str, content_type: str, content: bytes) -> "Attachment":
        """Store a file whole with its message (its size is that of its content)."""
        return cls.objects.create(
            correspondence=correspondence,
            filename=filename,
            content_type=content_type,
            size=len(content),
            content=content,
        )
