from rest_framework import serializers

from payhealth.api.serializers import ModelSerializer, Serializer
from webhooks.models import SUBSCRIBABLE_EVENTS, EventType, WebhookAttempt, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionSerializer(ModelSerializer):
    """A subscription as everyone who may see it sees it: the secret only as a hint."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), read_only=True)
    secret_hint = serializers.CharField(read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "active",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "owner",
            "secret_hint",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret. Keep it in the receiver; reveal it again with /secret/."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookSubscriptionInputSerializer(Serializer):
    """Shape only: the service checks the URL scheme and that at least one event is chosen."""

    name = serializers.CharField(max_length=80)
    url = serializers.CharField(max_length=500)
    events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), max_length=20)


class WebhookSecretSerializer(Serializer):
    secret = serializers.CharField(read_only=True)


class WebhookAttemptSerializer(ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "at", "request_headers", "response_status", "response_body", "error", "duration_ms"]
        read_only_fields = fields


class WebhookDeliverySerializer(ModelSerializer):
    event_type = serializers.ChoiceField(choices=EventType.choices, read_only=True)
    attempts = WebhookAttemptSerializer(source="attempt_log", many=True, read_only=True)
    attempt_count = serializers.IntegerField(source="attempts", read_only=True)
    payload = serializers.JSONField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_type",
            "event_id",
            "payload",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "replay_of",
            "attempts",
        ]
        read_only_fields = fields
