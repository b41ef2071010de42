"""The SLA policy form: targets typed as human durations ("30m", "4h", "1h 30m", "2d").

A target is business time on the policy's calendar. On a 24x7 calendar a day is 24 hours, so
"2d" is unambiguous; on a business-hours calendar "a day" could mean 24 hours of business time
or one business day, so days are refused there and the lead types hours ("45h" for five 9-hour
business days). The form only parses; `sla_policy_save` decides and writes.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.models import SlaPolicy
from cases.models.incident import Category, Severity
from cases.sla.durations import days_refused_message, format_duration_text, gives_days, parse_duration_text
from partners.models import BusinessCalendar, Partner
from payhealth.forms import Form

HUNDRED = Decimal(100)


class DurationTextField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)
        self.widget.attrs.update({"placeholder": _("e.g. 1h 30m"), "autocomplete": "off", "size": 12})

    def clean(self, value):
        return parse_duration_text(super().clean(value))

    def prepare_value(self, value):
        return format_duration_text(value, days=False) if isinstance(value, timedelta) else value


class SlaPolicyForm(Form):
    """Everything a lead sets on a policy; `initial_for` turns a policy into initial values."""

    name = forms.CharField(label=_("Name"), max_length=120)
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices)
    partner_kind = forms.ChoiceField(
        label=_("Partner kind"),
        choices=[("", _("Any kind"))] + list(Partner.Kind.choices),
        required=False,
        help_text=_("Narrow the policy to partners of one kind, or leave empty."),
    )
    partner = forms.ModelChoiceField(
        label=_("Partner"),
        queryset=Partner.objects.filter(active=True).order_by("name"),
        required=False,
        empty_label=_("Any partner"),
        help_text=_("Or narrow it to one partner (then leave the kind empty)."),
    )
    category = forms.ChoiceField(
        label=_("Incident category"),
        choices=[("", _("Any category"))] + list(Category.choices),
        required=False,
        help_text=_("Narrow the policy to incidents of one category (billing cases: cost rate regression)."),
    )
    calendar = forms.ModelChoiceField(
        label=_("Calendar"),
        queryset=BusinessCalendar.objects.order_by("name"),
        empty_label=None,
        help_text=_("Targets count business time on this calendar."),
    )
    acknowledge_target = DurationTextField(label=_("Acknowledge within"))
    first_notice_target = DurationTextField(
        label=_("First partner notice within"), help_text=_("Empty means as needed: not timed.")
    )
    update_every = DurationTextField(label=_("Update every"), help_text=_("Empty means updates are not timed."))
    resolve_target = DurationTextField(label=_("Resolve within"))
    warn_percent = forms.DecimalField(
        label=_("Warn at percentage of the target"),
        min_value=1,
        max_value=99,
        decimal_places=0,
        initial=75,
    )
    retarget_on_severity_change = forms.BooleanField(
        label=_("Re-target running clocks on a severity change"),
        required=False,
        initial=True,
        help_text=_("When an incident changes to this severity, its running clocks take these targets."),
    )

    DURATION_FIELDS = ("acknowledge_target", "first_notice_target", "update_every", "resolve_target")

    @staticmethod
    def initial_for(policy: SlaPolicy) -> dict:
        return {
            "name": policy.name,
            "severity": policy.severity,
            "partner_kind": policy.partner_kind,
            "partner": policy.partner_id,
            "category": policy.category,
            "calendar": policy.calendar_id,
            **{field: getattr(policy, field) for field in SlaPolicyForm.DURATION_FIELDS},
            "warn_percent": (policy.warn_at * HUNDRED).quantize(Decimal(1)),
            "retarget_on_severity_change": policy.retarget_on_severity_change,
        }

    def clean(self):
        cleaned = super().clean()
        calendar = cleaned.get("calendar")
        if calendar is not None and not calendar.is_24x7:
            for field in self.DURATION_FIELDS:
                if gives_days(self.data.get(self.add_prefix(field), "")):
                    self.add_error(field, days_refused_message(calendar))
        return cleaned

    def service_fields(self) -> dict:
        """The cleaned values as `sla_policy_save` keyword arguments."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "severity": data["severity"],
            "partner_kind": data["partner_kind"],
            "partner": data["partner"],
            "category": data["category"],
            "calendar": data["calendar"],
            **{field: data[field] for field in self.DURATION_FIELDS},
            "warn_at": (data["warn_percent"] / HUNDRED).quantize(Decimal("0.01")),
            "retarget_on_severity_change": data["retarget_on_severity_change"],
        }
