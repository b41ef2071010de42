"""The guards built on the card-number detector: forms, serializers, FilterSets, models and the
admin. Each is checked for its behaviour, and every class of the project for using it, so
that a form, serializer, FilterSet, model or admin added tomorrow cannot forget it."""

from __future__ import annotations

import importlib
import pkgutil

import django_filters
import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.urls import reverse
from rest_framework import serializers

from cases.models import SavedView
from payhealth.api.serializers import CardNumberFreeSerializer, Serializer
from payhealth.db import CardNumberFreeModel
from payhealth.forms import CardNumberFreeFilterSet, CardNumberFreeForm, Form
from payhealth.pan import CARD_NUMBER_MESSAGE
from tests.factories import IncidentFactory, UserFactory

PAN = "4111111111111111"
FORMS_OF_A_PAN = ("4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111")
OUR_PACKAGES = ("accounts", "alerts", "cases", "partners", "webhooks", "monitoring", "payhealth", "demo")
# Monitoring's alert payload masks card numbers instead of refusing them (alerts/payload.py).
MASKING_SERIALIZERS = {
    "alerts.payload.AlertPayloadSerializer",
    "alerts.payload.SegmentSerializer",
    "alerts.payload.WindowSerializer",
    "alerts.payload.VolumeSerializer",
    "alerts.payload.DeclineCodeSerializer",
}


def _import_every_module() -> None:
    for package_name in OUR_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if any(part in module.name for part in (".migrations", ".settings", "wsgi", "asgi")):
                continue
            importlib.import_module(module.name)


def _ours(classes) -> list[type]:
    _import_every_module()
    seen, stack = [], list(classes)
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in OUR_PACKAGES and cls not in seen:
            seen.append(cls)
    return seen


def _name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# --- every class of the project uses its guard --------------------------------------------------


def test_every_form_of_the_project_refuses_card_numbers():
    forgetful = [_name(cls) for cls in _ours([forms.BaseForm]) if not issubclass(cls, CardNumberFreeForm)]
    assert forgetful == [], "derive these from payhealth.forms.Form or ModelForm"


def test_every_serializer_of_the_project_refuses_card_numbers_or_masks_them():
    classes = _ours([serializers.BaseSerializer])
    forgetful = [
        _name(cls)
        for cls in classes
        if not issubclass(cls, CardNumberFreeSerializer) and _name(cls) not in MASKING_SERIALIZERS
    ]
    assert forgetful == [], "derive these from payhealth.api.serializers.Serializer or ModelSerializer"
    assert {_name(cls) for cls in classes} >= MASKING_SERIALIZERS


def test_every_filterset_of_the_project_refuses_card_numbers():
    forgetful = [
        _name(cls) for cls in _ours([django_filters.FilterSet]) if not issubclass(cls, CardNumberFreeFilterSet)
    ]
    assert forgetful == [], "derive these from payhealth.forms.FilterSet"


@pytest.mark.parametrize("app", ["accounts", "alerts", "cases", "partners", "webhooks", "monitoring"])
def test_every_model_of_the_project_refuses_card_numbers_at_save(app):
    forgetful = [
        model.__name__ for model in apps.get_app_config(app).get_models() if not issubclass(model, CardNumberFreeModel)
    ]
    assert forgetful == [], "derive these from payhealth.db.CardNumberFreeModel"


@pytest.mark.django_db
def test_every_admin_form_refuses_card_numbers_third_party_ones_included(rf):
    request = rf.get("/admin/")
    request.user = UserFactory(is_superuser=True, is_staff=True)
    editable = [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
    ]
    assert len(editable) > 10
    for model, model_admin in editable:
        assert issubclass(model_admin.get_form(request), CardNumberFreeForm), model


# --- how each guard behaves ---------------------------------------------------------------------


class SampleForm(Form):
    note = forms.CharField()
    kind = forms.ChoiceField(choices=[("a", "A")])
    tags = forms.MultipleChoiceField(choices=[("x", "X")], required=False)
    password = forms.CharField(widget=forms.PasswordInput, required=False)


@pytest.mark.parametrize("pan", FORMS_OF_A_PAN)
def test_a_form_refuses_a_card_number_in_any_field_and_shows_it_masked(pan):
    data = QueryDict(mutable=True)
    data.update({"note": f"card {pan} declined", "kind": pan, "password": pan})
    data.setlist("tags", ["x", pan])
    form = SampleForm(data)

    assert not form.is_valid()
    assert form.errors == {field: [str(CARD_NUMBER_MESSAGE)] for field in ("note", "kind", "tags")}
    html = form.as_div()
    assert all(shape not in html for shape in FORMS_OF_A_PAN)
    assert "card 411111******1111 declined" in html
    assert form.data["kind"] == "411111******1111"


def test_a_form_without_card_numbers_is_untouched():
    form = SampleForm({"note": "BIN 411111, last 4 1111", "kind": "a"})
    assert form.is_valid(), form.errors


class Inner(Serializer):
    name = serializers.CharField()


class Outer(Serializer):
    inner = Inner()
    codes = serializers.ListField(child=serializers.CharField())
    shown = serializers.CharField(read_only=True)


def test_a_serializer_refuses_before_reading_any_field_and_names_nested_fields():
    outer = Outer(data={"inner": {"name": "x 4111-1111-1111-1111"}, "codes": ["05", PAN], "unknown": PAN})
    assert not outer.is_valid()
    assert outer.errors == {"inner": {"name": [str(CARD_NUMBER_MESSAGE)]}, "codes": [str(CARD_NUMBER_MESSAGE)]}
    assert Outer(data={"inner": {"name": "411111******1111"}, "codes": ["05"]}).is_valid()


@pytest.mark.django_db
def test_a_row_holding_a_card_number_is_never_saved():
    incident = IncidentFactory(title="Declines")
    incident.summary = f"customer card {PAN}"
    with pytest.raises(ValidationError) as error:
        incident.save()
    assert error.value.message_dict == {"summary": [str(CARD_NUMBER_MESSAGE)]}
    incident.title = "Declines on Visa"
    incident.save(update_fields=["title"])  # only the fields saved are read
    view = SavedView(owner=UserFactory(), name="x", query="q=4111-1111-1111-1111")
    with pytest.raises(ValidationError):
        view.save()


@pytest.mark.django_db
def test_an_admin_list_searched_for_a_card_number_comes_back_masked_with_the_message(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    url = reverse("admin:cases_incident_changelist")

    response = client.get(url, {"q": "4111 1111 1111 1111"}, follow=True)

    assert response.redirect_chain[0][0] == f"{url}?q=411111%2A%2A%2A%2A%2A%2A1111"
    html = response.content.decode()
    assert str(CARD_NUMBER_MESSAGE) in html
    assert all(shape not in html for shape in FORMS_OF_A_PAN)
