"""Rate-card pages: the partners' versions, a version with its rules (CSV too), the diff between
two versions, drafting (from scratch or from a version), adding and removing rules on a draft,
approving, the "which rule applies?" tester and the partners' thresholds. The services are in
`costs.services` and `costs.matching`."""

from __future__ import annotations

import csv
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from costs.forms import RateCardForm, RuleForm, RuleFormSet, RuleMatchForm, ThresholdsForm
from costs.matching import rule_match
from costs.models import MATCH_KEYS, CostThresholds, FeeRule, RateCard
from costs.services import (
    THRESHOLD_FIELDS,
    cost_thresholds_save,
    fee_rule_add,
    fee_rule_remove,
    rate_card_approve,
    rate_card_create,
    rate_card_diff,
    rule_specs,
)
from partners.models import Partner
from payhealth.ids import parse_id
from payhealth.web import add_service_errors, desk_permission

RULE_CSV_COLUMNS = (
    "fee_type",
    *MATCH_KEYS,
    "rate_bps",
    "fixed_fee",
    "minimum_fee",
    "cap_fee",
    "priority",
    "specificity",
)


def _previous(card: RateCard) -> RateCard | None:
    return RateCard.objects.filter(partner=card.partner_id, version__lt=card.version).order_by("-version").first()


@desk_permission("costs.view_ratecard")
@require_safe
def ratecard_index(request):
    cards = RateCard.objects.select_related("created_by", "approved_by").order_by("-version")
    partners = (
        Partner.objects.filter(rate_cards__isnull=False)
        .distinct()
        .order_by("name")
        .prefetch_related(Prefetch("rate_cards", queryset=cards, to_attr="versions"))
    )
    return render(request, "costs/ratecard_index.html", {"partners": partners})


def _card(pk: int) -> RateCard:
    return get_object_or_404(RateCard.objects.select_related("partner", "created_by", "approved_by"), pk=pk)


def _detail_context(request, card: RateCard, **extra) -> dict:
    return {
        "card": card,
        "rules": card.rules.order_by("fee_type", "-specificity", "-priority", "id"),
        "previous": _previous(card),
        "keys": MATCH_KEYS,
        "can_edit": card.state == RateCard.State.DRAFT and request.user.has_perm("costs.add_feerule"),
        "can_remove": card.state == RateCard.State.DRAFT and request.user.has_perm("costs.delete_feerule"),
        "can_approve": card.state == RateCard.State.DRAFT and request.user.has_perm("costs.approve_ratecard"),
        "own_card": card.created_by_id == request.user.pk,
        "rule_form": extra.pop("rule_form", None) or RuleForm(prefix="rule"),
        **extra,
    }


@desk_permission("costs.view_ratecard", "costs.view_feerule")
@require_safe
def ratecard_detail(request, pk: int):
    card = _card(pk)
    return render(request, "costs/ratecard_detail.html", _detail_context(request, card))


@desk_permission("costs.view_ratecard", "costs.view_feerule")
@require_safe
def ratecard_rules_csv(request, pk: int):
    card = _card(pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="rate-card-{card.partner.code}-v{card.version}.csv"'
    writer = csv.writer(response)
    writer.writerow(RULE_CSV_COLUMNS)
    for rule in card.rules.order_by("fee_type", "-specificity", "-priority", "id"):
        writer.writerow(["" if getattr(rule, name) is None else getattr(rule, name) for name in RULE_CSV_COLUMNS])
    return response


@desk_permission("costs.view_ratecard", "costs.view_feerule")
@require_safe
def ratecard_diff(request, pk: int):
    card = _card(pk)
    against_id = request.GET.get("against", "")
    if against_id:
        if parse_id(against_id) is None:
            raise Http404
        against = get_object_or_404(RateCard, pk=parse_id(against_id), partner=card.partner_id)
    else:
        against = _previous(card)
    versions = RateCard.objects.filter(partner=card.partner_id).exclude(pk=card.pk).order_by("-version")
    diff = rate_card_diff(against, card) if against is not None else None
    context = {"card": card, "against": against, "diff": diff, "versions": versions}
    return render(request, "costs/ratecard_diff.html", context)


@desk_permission("costs.add_ratecard", "costs.add_feerule")
@require_http_methods(["GET", "HEAD", "POST"])
def ratecard_create(request):
    source = None
    source_id = parse_id(request.GET.get("from", ""))
    if source_id is not None:
        source = RateCard.objects.filter(pk=source_id).select_related("partner").first()
    if request.method == "POST":
        form = RateCardForm(request.POST)
        rules = RuleFormSet(request.POST, prefix="rules")
        if form.is_valid() and rules.is_valid():
            specs = [spec for spec in (rule_form.spec() for rule_form in rules.forms) if spec]
            if all(rule_form.is_valid() for rule_form in rules.forms):
                data = form.cleaned_data
                try:
                    card = rate_card_create(
                        partner=data["partner"],
                        effective_from=data["effective_from"],
                        rules=specs,
                        actor=request.user,
                        currency=data["currency"],
                        notes=data["notes"],
                    )
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, _("Draft version %(version)d saved.") % {"version": card.version})
                    return redirect("costs:ratecard_detail", card.pk)
    else:
        initial = {"currency": "MXN"}
        specs = []
        if source is not None:
            initial |= {"partner": source.partner_id, "currency": source.currency}
            specs = rule_specs(source)
        elif parse_id(request.GET.get("partner", "")) is not None:
            initial["partner"] = parse_id(request.GET["partner"])
        form = RateCardForm(initial=initial)
        rules = RuleFormSet(prefix="rules", initial=[*specs, *({} for _n in range(3))])
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "rules": rules, "source": source, "keys": MATCH_KEYS}
    return render(request, "costs/ratecard_form.html", context, status=status)


@desk_permission("costs.view_ratecard", "costs.add_feerule")
@require_POST
def ratecard_rule_add(request, pk: int):
    card = _card(pk)
    form = RuleForm(request.POST, prefix="rule")
    if form.is_valid():
        spec = form.spec()
        if spec is None and form.is_valid():
            form.add_error("fee_type", _("Choose a fee type."))
        elif spec is not None:
            try:
                fee_rule_add(rate_card=card, actor=request.user, **spec)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Rule added."))
                return redirect("costs:ratecard_detail", card.pk)
    return render(request, "costs/ratecard_detail.html", _detail_context(request, card, rule_form=form), status=400)


@desk_permission("costs.view_ratecard", "costs.delete_feerule")
@require_POST
def ratecard_rule_remove(request, pk: int, rule_id: int):
    card = _card(pk)
    rule = get_object_or_404(FeeRule, pk=rule_id, rate_card=card)
    try:
        fee_rule_remove(rule=rule, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Rule removed."))
    return redirect("costs:ratecard_detail", card.pk)


@desk_permission("costs.view_ratecard", "costs.approve_ratecard")
@require_POST
def ratecard_approve(request, pk: int):
    card = _card(pk)
    try:
        rate_card_approve(rate_card=card, actor=request.user)
    except (ValidationError, PermissionDenied) as error:
        message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        context = _detail_context(request, card, approve_error=message)
        return render(request, "costs/ratecard_detail.html", context, status=400)
    messages.success(request, _("Version %(version)d approved.") % {"version": card.version})
    return redirect("costs:ratecard_detail", card.pk)


@desk_permission("costs.view_ratecard", "costs.view_feerule")
@require_safe
def rule_tester(request):
    form = RuleMatchForm(request.GET or None, initial={"on": date.today()})
    match = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        match = rule_match(partner=data["partner"], on=data["on"], fee_type=data["fee_type"], cohort=form.cohort())
    status = 400 if request.GET and form.errors else 200
    context = {"form": form, "match": match, "keys": MATCH_KEYS}
    if match is not None and match.rule is not None:
        rule = match.rule
        context["required"] = rule.keys()
        context["left_open"] = [key for key in MATCH_KEYS if not getattr(rule, key)]
        context["beaten"] = match.reasons[1:]
    return render(request, "costs/rule_tester.html", context, status=status)


@desk_permission("costs.view_costthresholds")
@require_safe
def thresholds_index(request):
    partners = Partner.objects.order_by("name").select_related("cost_thresholds")
    return render(request, "costs/thresholds_index.html", {"partners": partners, "fields": THRESHOLD_FIELDS})


@desk_permission("costs.view_costthresholds", "costs.change_costthresholds")
@require_http_methods(["GET", "HEAD", "POST"])
def thresholds_edit(request, partner_id: int):
    partner = get_object_or_404(Partner, pk=partner_id)
    current = CostThresholds.objects.filter(partner=partner).first()
    shown = current or CostThresholds(partner=partner)
    if request.method == "POST":
        form = ThresholdsForm(request.POST, instance=CostThresholds(partner=partner))
        if form.is_valid():
            try:
                cost_thresholds_save(
                    partner=partner, actor=request.user, **{n: form.cleaned_data[n] for n in THRESHOLD_FIELDS}
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Thresholds saved."))
                return redirect("costs:thresholds_edit", partner.pk)
    else:
        form = ThresholdsForm(instance=shown)
    status = 400 if request.method == "POST" else 200
    context = {"partner": partner, "form": form, "defaults": current is None}
    return render(request, "costs/thresholds_form.html", context, status=status)
