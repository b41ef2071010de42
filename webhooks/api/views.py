"""Webhook subscriptions and their deliveries over REST, through the same services as the pages."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from webhooks.api import serializers as s
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from webhooks.selectors import (
    ADD,
    CHANGE,
    DELETE,
    VIEW,
    webhook_deliveries_visible_to,
    webhook_subscriptions_visible_to,
)
from webhooks.services import (
    webhook_delivery_replay,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_disable,
    webhook_subscription_enable,
    webhook_subscription_ping,
    webhook_subscription_rotate_secret,
    webhook_subscription_secret,
    webhook_subscription_update,
)


class WebhookSubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your webhooks (a lead's: everyone's). The secret is returned on create and rotate, and to
    its owner by POST /secret/; reads show a hint only."""

    serializer_class = s.WebhookSubscriptionSerializer
    queryset = WebhookSubscription.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {
        "list": (VIEW,),
        "retrieve": (VIEW,),
        "create": (ADD,),
        "partial_update": (CHANGE,),
        "destroy": (DELETE,),
        "ping": (CHANGE,),
        "secret": (CHANGE,),
        "rotate_secret": (CHANGE,),
        "enable": (CHANGE,),
        "disable": (CHANGE,),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookSubscription.objects.none()
        return webhook_subscriptions_visible_to(user=self.request.user)

    @extend_schema(
        request=s.WebhookSubscriptionInputSerializer, responses={201: s.WebhookSubscriptionCreatedSerializer}
    )
    def create(self, request):
        incoming = s.WebhookSubscriptionInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        subscription = webhook_subscription_create(actor=request.user, **incoming.validated_data)
        return Response(s.WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.WebhookSubscriptionInputSerializer(partial=True), responses=s.WebhookSubscriptionSerializer
    )
    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        incoming = s.WebhookSubscriptionInputSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        values = {"name": subscription.name, "url": subscription.url, "events": subscription.events}
        values.update(incoming.validated_data)
        updated = webhook_subscription_update(subscription=subscription, actor=request.user, **values)
        return Response(s.WebhookSubscriptionSerializer(updated).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        webhook_subscription_delete(subscription=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        """Queue a `ping` event to this webhook."""
        delivery = webhook_subscription_ping(subscription=self.get_object(), actor=request.user)
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.WebhookSecretSerializer)
    @action(detail=True, methods=["post"])
    def secret(self, request, pk=None):
        """The signing secret; its owner only."""
        secret = webhook_subscription_secret(subscription=self.get_object(), actor=request.user)
        return Response(s.WebhookSecretSerializer({"secret": secret}).data)

    @extend_schema(request=None, responses=s.WebhookSubscriptionCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret, effective at once; its owner only."""
        subscription = webhook_subscription_rotate_secret(subscription=self.get_object(), actor=request.user)
        return Response(s.WebhookSubscriptionCreatedSerializer(subscription).data)

    @extend_schema(request=None, responses=s.WebhookSubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        subscription = webhook_subscription_enable(subscription=self.get_object(), actor=request.user)
        return Response(s.WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(request=None, responses=s.WebhookSubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        subscription = webhook_subscription_disable(subscription=self.get_object(), actor=request.user)
        return Response(s.WebhookSubscriptionSerializer(subscription).data)


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deliveries of the webhooks you see, newest first, each with every attempt."""

    serializer_class = s.WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.none()
    filterset_fields = ["subscription", "status", "event_type"]
    action_permissions = {"list": (VIEW,), "retrieve": (VIEW,), "replay": (CHANGE,)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        attempts = Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
        return webhook_deliveries_visible_to(user=self.request.user).prefetch_related(attempts)

    @extend_schema(request=None, responses={202: s.WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Send the same event again (same payload and event id), signed now."""
        replay = webhook_delivery_replay(delivery=self.get_object(), actor=request.user)
        return Response(s.WebhookDeliverySerializer(replay).data, status=status.HTTP_202_ACCEPTED)
