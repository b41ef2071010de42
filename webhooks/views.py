"""Webhooks on screen: the subscriptions one may manage, create and edit them, reveal or rotate
a secret, send a test event, the delivery log with every attempt, replay, re-enable.

Thin views: every write is a service of `webhooks.services`, which
also decides who may do what; refused writes answer 403 and change nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from payhealth.web import add_service_errors, desk_permission
from webhooks.forms import WebhookSubscriptionForm
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

LOG_SIZE = 50
DETAIL = "webhooks/subscription_detail.html"


def _subscription(request, subscription_id: int) -> WebhookSubscription:
    subscription = webhook_subscriptions_visible_to(user=request.user).filter(pk=subscription_id).first()
    if subscription is None:
        raise Http404
    return subscription


def _detail(request, subscription: WebhookSubscription, *, secret: str = "", status: int = 200):
    deliveries = (
        subscription.deliveries.order_by("-created_at", "-id")
        .select_related("replay_of")
        .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number")))[:LOG_SIZE]
    )
    context = {
        "subscription": subscription,
        "deliveries": deliveries,
        "secret": secret,
        "is_owner": subscription.owner_id == request.user.pk,
        "in_flight": any(
            d.status in (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.DELIVERING) for d in deliveries
        ),
    }
    template = f"{DETAIL}#deliveries" if request.htmx else DETAIL
    return render(request, template, context, status=status)


@desk_permission(VIEW)
@require_safe
def subscription_list(request):
    subscriptions = webhook_subscriptions_visible_to(user=request.user)
    return render(request, "webhooks/subscription_list.html", {"subscriptions": subscriptions})


@desk_permission(ADD)
@require_http_methods(["GET", "POST"])
def subscription_create(request):
    form = WebhookSubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = webhook_subscription_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Webhook “%(name)s” created.") % {"name": subscription.name})
            return _detail(request, subscription, secret=subscription.secret)
    status = 400 if form.is_bound else 200
    return render(request, "webhooks/subscription_form.html", {"form": form}, status=status)


@desk_permission(VIEW)
@require_safe
def subscription_detail(request, subscription_id: int):
    return _detail(request, _subscription(request, subscription_id))


@desk_permission(CHANGE)
@require_http_methods(["GET", "POST"])
def subscription_edit(request, subscription_id: int):
    subscription = _subscription(request, subscription_id)
    initial = {"name": subscription.name, "url": subscription.url, "events": subscription.events}
    form = WebhookSubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_subscription_update(subscription=subscription, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Webhook saved."))
            return redirect("webhooks:subscription_detail", subscription.pk)
    status = 400 if form.is_bound else 200
    context = {"form": form, "subscription": subscription}
    return render(request, "webhooks/subscription_form.html", context, status=status)


@desk_permission(CHANGE)
@require_POST
def subscription_reveal(request, subscription_id: int):
    subscription = _subscription(request, subscription_id)
    return _detail(
        request, subscription, secret=webhook_subscription_secret(subscription=subscription, actor=request.user)
    )


@desk_permission(CHANGE)
@require_POST
def subscription_rotate(request, subscription_id: int):
    subscription = webhook_subscription_rotate_secret(
        subscription=_subscription(request, subscription_id), actor=request.user
    )
    messages.success(request, _("New secret created. Deliveries are signed with it from now on."))
    return _detail(request, subscription, secret=subscription.secret)


def _act(request, subscription: WebhookSubscription, action, done: str):
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("webhooks:subscription_detail", subscription.pk)


@desk_permission(CHANGE)
@require_POST
def subscription_ping(request, subscription_id: int):
    subscription = _subscription(request, subscription_id)
    return _act(
        request,
        subscription,
        lambda: webhook_subscription_ping(subscription=subscription, actor=request.user),
        _("Test event queued."),
    )


@desk_permission(CHANGE)
@require_POST
def subscription_enable(request, subscription_id: int):
    subscription = _subscription(request, subscription_id)
    return _act(
        request,
        subscription,
        lambda: webhook_subscription_enable(subscription=subscription, actor=request.user),
        _("Webhook enabled."),
    )


@desk_permission(CHANGE)
@require_POST
def subscription_disable(request, subscription_id: int):
    subscription = _subscription(request, subscription_id)
    return _act(
        request,
        subscription,
        lambda: webhook_subscription_disable(subscription=subscription, actor=request.user),
        _("Webhook disabled."),
    )


@desk_permission(DELETE)
@require_POST
def subscription_delete(request, subscription_id: int):
    subscription = _subscription(request, subscription_id)
    webhook_subscription_delete(subscription=subscription, actor=request.user)
    messages.success(request, _("Webhook “%(name)s” deleted.") % {"name": subscription.name})
    return redirect("webhooks:subscription_list")


@desk_permission(CHANGE)
@require_POST
def delivery_replay(request, delivery_id: int):
    delivery = webhook_deliveries_visible_to(user=request.user).filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    return _act(
        request,
        delivery.subscription,
        lambda: webhook_delivery_replay(delivery=delivery, actor=request.user),
        _("Delivery queued again."),
    )


urlpatterns = [
    path("", subscription_list, name="subscription_list"),
    path("new/", subscription_create, name="subscription_create"),
    path("<int:subscription_id>/", subscription_detail, name="subscription_detail"),
    path("<int:subscription_id>/edit/", subscription_edit, name="subscription_edit"),
    path("<int:subscription_id>/secret/", subscription_reveal, name="subscription_reveal"),
    path("<int:subscription_id>/secret/rotate/", subscription_rotate, name="subscription_rotate"),
    path("<int:subscription_id>/ping/", subscription_ping, name="subscription_ping"),
    path("<int:subscription_id>/enable/", subscription_enable, name="subscription_enable"),
    path("<int:subscription_id>/disable/", subscription_disable, name="subscription_disable"),
    path("<int:subscription_id>/delete/", subscription_delete, name="subscription_delete"),
    path("deliveries/<int:delivery_id>/replay/", delivery_replay, name="delivery_replay"),
]
