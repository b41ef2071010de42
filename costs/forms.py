"""Forms of the partner-cost pages: they read input; the services in costs/ decide."""

from __future__ import annotations

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from costs.importing import INVOICE_FIELDS, RECORD_FIELDS
from costs.models import MATCH_KEYS, CostThresholds, FeeImport, FeeType, Funding, Region
from costs.services import THRESHOLD_FIELDS
from partners.models import Partner
from payhealth.forms import DateInput, Form, ModelForm

KEY_LABELS = {
    "network": _("network"),
    "funding": _("funding"),
    "product": _("product"),
    "region": _("domestic or cross-border"),
    "giro": _("giro or MCC"),
    "entry_mode": _("entry mode"),
    "program_code": _("program code"),
}


def _key_field(key: str, *, required: bool = False) -> forms.Field:
    if key == "funding":
        return forms.ChoiceField(label=KEY_LABELS[key], choices=[("", "—"), *Funding.choices], required=required)
    if key == "region":
        return forms.ChoiceField(label=KEY_LABELS[key], choices=[("", "—"), *Region.choices], required=required)
    return forms.CharField(label=KEY_LABELS[key], max_length=40, required=required)


def partner_choices():
    return Partner.objects.order_by("name")


class RuleForm(Form):
    fee_type = forms.ChoiceField(label=_("fee type"), choices=[("", "—"), *FeeType.choices], required=False)
    rate_bps = forms.DecimalField(label=_("rate (bps)"), min_value=0, max_digits=10, decimal_places=4, required=False)
    fixed_fee = forms.DecimalField(label=_("fixed fee"), min_value=0, max_digits=14, decimal_places=4, required=False)
    minimum_fee = forms.DecimalField(label=_("minimum"), min_value=0, max_digits=14, decimal_places=4, required=False)
    cap_fee = forms.DecimalField(label=_("cap"), min_value=0, max_digits=14, decimal_places=4, required=False)
    priority = forms.IntegerField(label=_("priority"), required=False, min_value=-1000, max_value=1000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key in MATCH_KEYS:
            self.fields[key] = _key_field(key)

    def spec(self) -> dict | None:
        """The rule as the services take it, or None for a row left empty."""
        data = self.cleaned_data
        if not data.get("fee_type"):
            if any(data.get(name) not in (None, "") for name in data):
                self.add_error("fee_type", _("Choose a fee type, or empty the row."))
            return None
        return {name: value for name, value in data.items() if value not in (None, "")}


RuleFormSet = formset_factory(RuleForm, extra=0, max_num=500, validate_max=True)


class RateCardForm(Form):
    partner = forms.ModelChoiceField(label=_("partner"), queryset=Partner.objects.none())
    effective_from = forms.DateField(label=_("effective from"), widget=DateInput)
    currency = forms.RegexField(label=_("currency"), regex=r"^[A-Z]{3}$", initial="MXN", max_length=3)
    notes = forms.CharField(label=_("notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partner_choices()


class RuleMatchForm(Form):
    partner = forms.ModelChoiceField(label=_("partner"), queryset=Partner.objects.none())
    on = forms.DateField(label=_("date"), widget=DateInput)
    fee_type = forms.ChoiceField(label=_("fee type"), choices=FeeType.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partner_choices()
        for key in MATCH_KEYS:
            self.fields[key] = _key_field(key)

    def cohort(self) -> dict:
        return {key: (self.cleaned_data.get(key) or "").strip().lower() for key in MATCH_KEYS}


class UploadForm(Form):
    partner = forms.ModelChoiceField(label=_("partner"), queryset=Partner.objects.none())
    shape = forms.ChoiceField(label=_("shape"), choices=FeeImport.Shape.choices)
    file = forms.FileField(
        label=_("file"), help_text=_("CSV (UTF-8, a header row), XLSX (the first sheet) or Parquet.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partner_choices()


class ImportFilterForm(Form):
    partner = forms.ModelChoiceField(label=_("partner"), queryset=Partner.objects.none(), required=False)
    shape = forms.ChoiceField(label=_("shape"), choices=[("", _("any")), *FeeImport.Shape.choices], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partner_choices()


class MappingForm(Form):
    """Field → the file's column, one input a field; fee codes one per line as `code = fee type`."""

    fee_codes = forms.CharField(
        label=_("fee codes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        help_text=_("One per line: the partner's fee code = interchange, scheme, markup, cross_border, fx or other."),
        max_length=20000,
    )

    def __init__(self, *args, shape: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.shape_fields = INVOICE_FIELDS if shape == FeeImport.Shape.INVOICE else RECORD_FIELDS
        for name in self.shape_fields:
            self.fields[f"col_{name}"] = forms.CharField(label=name, required=False, max_length=120)

    def column_fields(self):
        return [self[f"col_{name}"] for name in self.shape_fields]

    def columns(self) -> dict:
        return {
            name: self.cleaned_data[f"col_{name}"] for name in self.shape_fields if self.cleaned_data[f"col_{name}"]
        }

    def clean_fee_codes(self) -> dict:
        codes = {}
        for number, line in enumerate(self.cleaned_data["fee_codes"].splitlines(), start=1):
            if not line.strip():
                continue
            code, sep, fee_type = line.partition("=")
            if not sep or not code.strip():
                raise forms.ValidationError(_("Line %(n)d: write code = fee type.") % {"n": number})
            codes[code.strip()] = fee_type.strip().lower()
        return codes

    @staticmethod
    def initial_for(mapping) -> dict:
        if mapping is None:
            return {}
        initial = {f"col_{name}": column for name, column in mapping.columns.items()}
        initial["fee_codes"] = "\n".join(f"{code} = {fee_type}" for code, fee_type in mapping.fee_codes.items())
        return initial


class ThresholdsForm(ModelForm):
    class Meta:
        model = CostThresholds
        fields = list(THRESHOLD_FIELDS)
