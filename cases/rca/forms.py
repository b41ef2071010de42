"""Forms of the incident page's follow-through panel: an RCA's next move, an action item."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.models import ActionItem, RcaRequest
from cases.rca.services import desk_users
from partners.models import Partner
from payhealth.forms import DateInput, Form

MOVES_TO = (RcaRequest.Status.RECEIVED, RcaRequest.Status.ACCEPTED, RcaRequest.Status.REJECTED)


class RcaMoveForm(Form):
    status = forms.ChoiceField(
        label=_("Mark the RCA"),
        choices=[(status.value, status.label) for status in MOVES_TO],
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    root_cause = forms.CharField(
        label=_("Root cause stated by the partner"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, rca=None, **kwargs):
        kwargs.setdefault("auto_id", f"id_rca{rca.pk if rca else ''}_%s")
        super().__init__(*args, **kwargs)


class ActionItemForm(Form):
    title = forms.CharField(label=_("Action"), max_length=300)
    owner = forms.ModelChoiceField(
        label=_("Owner at our desk"), queryset=desk_users(), required=False, empty_label=_("Nobody at our desk")
    )
    partner = forms.ModelChoiceField(
        label=_("Owner at a partner"), queryset=Partner.objects.none(), required=False, empty_label=_("No partner")
    )
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DateInput)
    status = forms.ChoiceField(label=_("Status"), choices=ActionItem.Status.choices, required=False)

    def __init__(self, *args, incident, item=None, **kwargs):
        if item is not None and not args and "data" not in kwargs:
            kwargs.setdefault(
                "initial",
                {
                    "title": item.title,
                    "owner": item.owner_id,
                    "partner": item.partner_id,
                    "due_date": item.due_date,
                    "status": item.status,
                },
            )
        kwargs.setdefault("auto_id", f"id_action{item.pk if item else ''}_%s")
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = desk_users()
        self.fields["partner"].queryset = Partner.objects.filter(engagements__incident=incident).order_by("name")
        if item is None:
            del self.fields["status"]
