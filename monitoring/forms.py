"""The forms of the monitoring pages: the upload (the file, then its column mapping), and the
detector's triage of a finding, suppression windows and settings. Shape only; the services hold
the rules (and say which field is wrong)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.utils.translation import gettext_lazy as _

from cases.forms import LocalDateTimeField
from cases.models import Merchant
from monitoring.detection.config import TUNABLES
from monitoring.models import FindingKind, MonitorSettings, SegmentState
from monitoring.rows import FIELDS, REQUIRED
from monitoring.triage import NOTE_MAX, REASON_MAX, SETTING_BOUNDS
from payhealth.forms import Form


class UploadForm(Form):
    file = forms.FileField(
        label=_("File of buckets"),
        help_text=_("CSV (UTF-8, a header line) or Parquet (.parquet)."),
        max_length=255,
        allow_empty_file=True,  # an empty file gets its own message from the upload service
    )


class MappingForm(Form):
    """One choice per bucket field: the file's column it is read from, or none."""

    save_as = forms.CharField(
        label=_("Save this mapping as"),
        required=False,
        max_length=50,
        validators=[validate_slug],
        help_text=_("Optional: a name (letters, digits, - and _) to preselect these columns for the next file."),
    )

    def __init__(self, *args, header: list[str], initial_mapping: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("— not in the file —")), *[(column, column) for column in header]]
        for field in FIELDS:
            self.fields[f"map_{field}"] = forms.ChoiceField(
                label=field,
                choices=choices,
                required=field in REQUIRED,
                initial=initial_mapping.get(field, ""),
            )

    def mapping(self) -> dict[str, str]:
        return {field: self.cleaned_data[f"map_{field}"] for field in FIELDS if self.cleaned_data.get(f"map_{field}")}

    def clean(self):
        data = super().clean()
        used: dict[str, str] = {}
        for field in FIELDS:
            column = data.get(f"map_{field}")
            if not column:
                continue
            if column in used:
                self.add_error(
                    f"map_{field}",
                    _("The column %(column)s is already read for %(field)s.")
                    % {"column": column, "field": used[column]},
                )
            used[column] = field
        return data

    def mapping_fields(self):
        return [self[f"map_{field}"] for field in FIELDS]


LATEST_YEAR = 9000


def _sane(moment: datetime | None) -> datetime | None:
    """Refuse a year no window reaches (and that time-zone arithmetic cannot hold)."""
    if moment is not None and moment.year > LATEST_YEAR:
        raise ValidationError(_("Give a date in the coming weeks."), code="range")
    return moment


class SuppressForm(Form):
    until = LocalDateTimeField(label=_("Suppress until"), help_text=_("In your time zone; at most 30 days from now."))
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX)

    def clean_until(self):
        return _sane(self.cleaned_data.get("until"))


class FalsePositiveForm(Form):
    note = forms.CharField(label=_("Why is it not a real problem?"), max_length=NOTE_MAX)


class AttachForm(Form):
    incident = forms.ModelChoiceField(label=_("An incident still open"), queryset=None, to_field_name="reference")

    def __init__(self, *args, incidents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incident"].queryset = incidents


class FindingFilterForm(Form):
    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.order_by("name"), to_field_name="account_id", required=False
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", _("Any kind")), *FindingKind.choices], required=False)


class MonitorFilterForm(Form):
    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.order_by("name"), to_field_name="account_id", required=False
    )
    state = forms.ChoiceField(label=_("State"), choices=[("", _("Any state")), *SegmentState.choices], required=False)


class SuppressionForm(Form):
    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.order_by("name"), to_field_name="account_id"
    )
    segment = forms.IntegerField(
        label=_("Segment id"),
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text=_("Empty for all of the merchant's segments."),
    )
    start = LocalDateTimeField(label=_("From"))
    end = LocalDateTimeField(label=_("Until"))
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX)

    def clean_start(self):
        return _sane(self.cleaned_data.get("start"))

    def clean_end(self):
        return _sane(self.cleaned_data.get("end"))


def _setting_field(name: str, *, inherited) -> forms.Field:
    model_field = MonitorSettings._meta.get_field(name)
    label = model_field.verbose_name
    help_text = model_field.help_text
    if name == "enabled":
        choices = [
            ("", _("Inherit (%(value)s)") % {"value": _("on") if inherited else _("off")}),
            ("true", _("On")),
            ("false", _("Off")),
        ]
        return forms.TypedChoiceField(
            label=label,
            choices=choices,
            coerce=lambda value: value == "true",
            empty_value=None,
            required=False,
            help_text=help_text,
        )
    low, high, _low_allowed = SETTING_BOUNDS[name]
    attrs = {"placeholder": f"{inherited.normalize():f}" if isinstance(inherited, Decimal) else str(inherited)}
    if model_field.get_internal_type() == "DecimalField":
        return forms.DecimalField(
            label=label,
            required=False,
            max_digits=model_field.max_digits,
            decimal_places=model_field.decimal_places,
            help_text=help_text,
            widget=forms.TextInput(attrs=attrs | {"inputmode": "decimal"}),
        )
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=int(low),
        max_value=int(high),
        help_text=help_text,
        widget=forms.TextInput(attrs=attrs | {"inputmode": "numeric"}),
    )


class MonitorSettingsForm(Form):
    """Every setting; an empty field inherits (`inherited`: the value it would inherit, shown as
    its placeholder)."""

    def __init__(self, *args, inherited: dict, row: MonitorSettings | None, read_only: bool = False, **kwargs):
        initial = {}
        if row is not None:
            for name in TUNABLES:
                value = getattr(row, name)
                if name == "enabled" and value is not None:
                    value = "true" if value else "false"
                initial[name] = value
        super().__init__(*args, initial=initial, **kwargs)
        for name in TUNABLES:
            self.fields[name] = _setting_field(name, inherited=inherited[name])
            if read_only:
                self.fields[name].disabled = True
