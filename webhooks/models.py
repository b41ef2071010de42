"""Outbound webhooks: subscriptions, one delivery row per event and endpoint, and
every HTTP attempt of a delivery.

A delivery is a row with attempts: the task locks the row, returns if it is
already done and records each attempt, so a task delivered twice never posts twice at once and
the log shows exactly what the receiver saw.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel
from webhooks.targets import validate_webhook_target

SECRET_PREFIX = "whsec_"
# What is kept of a receiver's answer: enough for its error message, too little to read a service
# through (and nothing at all of a redirect or a refused target: webhooks/delivery.py).
RESPONSE_BODY_LIMIT = 512


class EventType(models.TextChoices):
    """What a receiver can subscribe to; `ping` is sent on request only (the "send test" button)."""

    INCIDENT_OPENED = "incident.opened", _("Incident opened")
    INCIDENT_STATUS_CHANGED = "incident.status_changed", _("Incident status changed")
    INCIDENT_SEVERITY_CHANGED = "incident.severity_changed", _("Incident severity changed")
    NOTICE_SENT = "notice.sent", _("Notice sent")
    NOTICE_FAILED = "notice.failed", _("Notice failed")
    REPLY_RECEIVED = "reply.received", _("Reply received")
    SLA_WARNING = "sla.warning", _("SLA warning")
    SLA_BREACH = "sla.breach", _("SLA breach")
    FINDING_CREATED = "finding.created", _("Detector finding created")
    FINDING_RECOVERED = "finding.recovered", _("Detector finding recovered")
    COST_FINDING_CREATED = "cost_finding.created", _("Cost finding created")
    PING = "ping", _("Test ping")


SUBSCRIBABLE_EVENTS = [(value, label) for value, label in EventType.choices if value != EventType.PING]


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def validate_webhook_url(value: str) -> None:
    """An http(s) URL without credentials whose host is public now (webhooks/targets.py)."""
    URLValidator(schemes=["http", "https"], message=_("Enter an http:// or https:// URL."))(value)
    if "@" in value.split("://", 1)[-1].split("/", 1)[0]:
        raise ValidationError(_("Do not put credentials in the URL; the signature authenticates PayHealth."))
    validate_webhook_target(value)


class WebhookSubscription(CardNumberFreeModel, models.Model):
    """An endpoint that wants to hear about some events, signed with its own secret.

    The secret is stored as it is, not hashed: PayHealth must sign every delivery with it (an
    HMAC needs the key itself). It is shown in full once when created or rotated, and afterwards
    only to the subscription's owner on an explicit "reveal" (never in lists or the API's
    regular reads). Leads see every subscription, but not other people's secrets.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=80)
    url = models.URLField(_("URL"), max_length=500, validators=[validate_webhook_url])
    secret = models.CharField(_("secret"), max_length=80, default=generate_secret, editable=False)
    events = ArrayField(
        models.CharField(max_length=40, choices=SUBSCRIBABLE_EVENTS),
        verbose_name=_("events"),
        default=list,
    )
    active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=500, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failed deliveries"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["name", "id"]
        permissions = [("manage_all_webhooksubscription", _("Can see and manage everyone's webhooks"))]
        indexes = [models.Index(fields=["owner", "name"], name="webhooksub_owner_name_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.events:
            raise ValidationError({"events": _("Choose at least one event.")})
        unknown = sorted(set(self.events) - {value for value, _label in SUBSCRIBABLE_EVENTS})
        if unknown:
            raise ValidationError({"events": _("Unknown events: %(events)s.") % {"events": ", ".join(unknown)}})

    @property
    def secret_hint(self) -> str:
        """Enough to tell secrets apart, not enough to use one."""
        return f"{self.secret[: len(SECRET_PREFIX) + 4]}…"


class WebhookDelivery(CardNumberFreeModel, models.Model):
    """One event for one subscription. `event_id` is the same for every delivery (and replay)
    of one event, so receivers de-duplicate on it.

    While `delivering`, `next_attempt_at` holds when the current attempt began: the sweep uses
    it to find attempts whose worker died."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("subscription")
    )
    event_type = models.CharField(_("event"), max_length=40, choices=EventType.choices)
    event_id = models.UUIDField(_("event id"))
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays", verbose_name=_("replay of")
    )

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subscription", "-created_at"], name="webhookdel_sub_time_idx"),
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdel_unfinished_idx",
                condition=models.Q(status__in=["pending", "delivering"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.ABANDONED)


class WebhookAttempt(CardNumberFreeModel, models.Model):
    """One HTTP POST of a delivery: what was sent (headers) and what came back."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    request_headers = models.JSONField(_("request headers"), default=dict)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.TextField(
        _("response body"), blank=True, help_text=_("The first 512 bytes; nothing of a redirect.")
    )
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique_number")]

    def __str__(self) -> str:
        return f"#{self.number} {self.response_status or self.error[:40]}"
