"""Forms of the incident screens. They parse and check input; the services decide and write.

Times are typed in the viewer's own zone (the middleware activates it) and stored in UTC.
Approval rates are typed as percentages (92.5) and handed to services as shares (0.9250).
A card number typed in any field is refused and never shown back in the form (`payhealth.forms`).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import QUEUE_COLUMNS
from cases.filters import OWNER_NONE, user_label
from cases.models import AffectedMerchant, Incident, Merchant, PartnerEngagement
from cases.models.incident import REOPEN_FROM, CardNetwork, Category, EntryMode, Severity, Status, validate_bin_prefix
from cases.selectors import (
    incident_list_visible_to,
    incident_owner_choices,
    merchants_addable_to,
    partners_engageable_on,
)
from cases.services.bulk import MAX_BULK_ROWS, BulkAction
from partners.models import Partner
from payhealth.forms import DateTimeLocalInput, Form
from payhealth.pan import contains_card_number

SHARE = Decimal("0.0001")
HUNDRED = Decimal(100)


class CommaSeparatedField(forms.CharField):
    """A list typed as text: items separated by commas (or new lines), blanks and repeats dropped."""

    def __init__(self, *, item_validators=(), compact: bool = False, upper: bool = False, max_item_length=64, **kw):
        self.item_validators = list(item_validators)
        self.compact = compact
        self.upper = upper
        self.max_item_length = max_item_length
        kw.setdefault("required", False)
        super().__init__(**kw)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def split(self, value: str) -> list[str]:
        items = []
        for raw in re.split(r"[,;\n]+", value or ""):
            item = raw.strip()
            if self.compact:
                item = re.sub(r"[\s-]", "", item)
            if self.upper:
                item = item.upper()
            if item and item not in items:
                items.append(item)
        return items

    def to_python(self, value):
        return self.split(value if isinstance(value, str) else self.prepare_value(value or []))

    def without_card_numbers(self, value: str) -> str:
        """What the form shows again after a card number was refused: the other items."""
        return ", ".join(item for item in self.split(value) if not contains_card_number(item))

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value):
        errors = []
        for item in value:
            if len(item) > self.max_item_length:
                errors.append(
                    ValidationError(
                        _("%(value)s is too long (at most %(limit)d characters)."),
                        params={"value": item[:20] + "…", "limit": self.max_item_length},
                        code="max_length",
                    )
                )
                continue
            for validator in self.item_validators:
                try:
                    validator(item)
                except ValidationError as error:
                    errors.extend(error.error_list)
        if errors:
            raise ValidationError(errors)


class LocalDateTimeField(forms.DateTimeField):
    """A date and time typed in the viewer's zone with the browser's date-time picker."""

    widget = DateTimeLocalInput

    def has_changed(self, initial, data):
        # The picker shows minutes; a stored time with seconds is unchanged if the minute is.
        try:
            value = self.to_python(data)
            if isinstance(initial, str):
                initial = self.to_python(initial)
        except ValidationError:
            return True

        def minute(moment):
            return moment.replace(second=0, microsecond=0) if moment else None

        return minute(initial) != minute(value)


def bin_prefixes_field() -> CommaSeparatedField:
    return CommaSeparatedField(
        label=_("BIN prefixes"),
        item_validators=[validate_bin_prefix],
        compact=True,
        max_item_length=32,
        help_text=_("6–8 digit prefixes separated by commas. Card numbers are never stored."),
    )


def decline_codes_field() -> CommaSeparatedField:
    return CommaSeparatedField(
        label=_("Decline codes seen"),
        help_text=_("Response codes separated by commas, e.g. 05, 51, do_not_honor."),
    )


class TimeZoneHelp:
    """Says on each date-time field which zone the times are typed in."""

    def _mark_time_zone(self):
        zone = timezone.get_current_timezone_name()
        for field in self.fields.values():
            if isinstance(field, LocalDateTimeField):
                field.help_text = _("In your time zone, %(zone)s.") % {"zone": zone}


def _owner_label(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _owner_label(obj)


class _ListedChoices(forms.models.ModelChoiceIterator):
    """A model choice field's options from a list read already (`field.listed`), not a query."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.field.listed:
            yield self.choice(obj)

    def __len__(self):
        return len(self.field.listed) + (self.field.empty_label is not None)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.field.listed)


class MerchantChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.account_id}"


class MerchantMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.account_id}"


class PartnerMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.get_kind_display()}"


class IncidentOpenForm(TimeZoneHelp, Form):
    """Open an incident by hand; the owner defaults to the author."""

    title = forms.CharField(label=_("Title"), max_length=200)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices, initial=Severity.SEV3)
    summary = forms.CharField(label=_("Summary"), widget=forms.Textarea(attrs={"rows": 4}), required=False)
    started_at = LocalDateTimeField(label=_("Impact started"), required=False)
    detected_at = LocalDateTimeField(label=_("Detected"), required=False)
    card_networks = forms.MultipleChoiceField(
        label=_("Card networks"), choices=CardNetwork.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    decline_codes = decline_codes_field()
    bin_prefixes = bin_prefixes_field()
    country = forms.CharField(
        label=_("Country"), max_length=2, required=False, help_text=_("Two-letter ISO code, e.g. MX.")
    )
    owner = OwnerChoiceField(
        label=_("Owner"), queryset=None, required=False, empty_label=_("Me"), help_text=_("Empty means you.")
    )
    merchants = MerchantMultipleChoiceField(
        label=_("Affected merchants"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    partners = PartnerMultipleChoiceField(
        label=_("Partners to engage"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = incident_owner_choices(user=user)
        self.fields["merchants"].queryset = Merchant.objects.order_by("name")
        self.fields["partners"].queryset = Partner.objects.filter(active=True).order_by("name")
        self._mark_time_zone()
        empty_means_now = _("Empty means now.")
        self.fields["detected_at"].help_text = f"{self.fields['detected_at'].help_text} {empty_means_now}"

    def clean_country(self):
        return (self.cleaned_data.get("country") or "").strip().upper()

    def clean(self):
        cleaned = super().clean()
        started, detected = cleaned.get("started_at"), cleaned.get("detected_at")
        if started and detected and detected < started:
            self.add_error("detected_at", _("Detection cannot come before the impact started."))
        if started and not detected and started > timezone.now():
            self.add_error("started_at", _("The impact cannot start in the future."))
        return cleaned


class IncidentDetailsForm(TimeZoneHelp, Form):
    """The descriptive fields of an incident (incident_update_details)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    summary = forms.CharField(label=_("Summary"), widget=forms.Textarea(attrs={"rows": 4}), required=False)
    root_cause = forms.CharField(label=_("Root cause"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    started_at = LocalDateTimeField(label=_("Impact started"), required=False)
    detected_at = LocalDateTimeField(label=_("Detected"), required=False)
    mitigated_at = LocalDateTimeField(label=_("Mitigated"), required=False)
    card_networks = forms.MultipleChoiceField(
        label=_("Card networks"), choices=CardNetwork.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    decline_codes = decline_codes_field()
    bin_prefixes = bin_prefixes_field()
    country = forms.CharField(label=_("Country"), max_length=2, required=False)
    entry_modes = forms.MultipleChoiceField(
        label=_("Entry modes"), choices=EntryMode.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    partner_title_en = forms.CharField(label=_("Partner-facing title (English)"), max_length=200, required=False)
    partner_title_es = forms.CharField(label=_("Partner-facing title (Spanish)"), max_length=200, required=False)
    partner_summary_en = forms.CharField(
        label=_("What we see (English)"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    partner_summary_es = forms.CharField(
        label=_("What we see (Spanish)"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    def __init__(self, *args, incident: Incident, **kwargs):
        kwargs.setdefault("initial", {name: getattr(incident, name) for name in self.base_fields})
        kwargs.setdefault("auto_id", "id_details_%s")
        super().__init__(*args, **kwargs)
        self._mark_time_zone()

    def clean_country(self):
        return (self.cleaned_data.get("country") or "").strip().upper()

    def clean(self):
        cleaned = super().clean()
        started, detected = cleaned.get("started_at"), cleaned.get("detected_at")
        if started and detected and detected < started:
            self.add_error("detected_at", _("Detection cannot come before the impact started."))
        return cleaned


class TransitionForm(Form):
    """Move the incident to one allowed next status.

    Waiting on a partner names the partner (one already engaged) and says why; reopening a
    resolved or closed incident says why too.
    """

    to = forms.ChoiceField(widget=forms.HiddenInput)
    partner = forms.ChoiceField(label=_("Partner we wait on"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)

    def __init__(self, *args, incident: Incident, target: str, engagements=(), **kwargs):
        kwargs.setdefault("auto_id", f"id_to_{target}_%s")
        kwargs.setdefault("initial", {"to": target})
        super().__init__(*args, **kwargs)
        self.incident = incident
        self.target = target
        self.partners = {engagement.partner.code: engagement.partner for engagement in engagements}
        self.fields["to"].choices = [(status, status) for status in incident.allowed_transitions()]
        self.needs_partner = target == Status.WAITING_ON_PARTNER
        self.needs_reason = self.needs_partner or (incident.status in REOPEN_FROM and target == Status.INVESTIGATING)
        if self.needs_partner:
            self.fields["partner"].required = True
            self.fields["partner"].choices = [
                ("", _("Choose a partner")),
                *((c, p.name) for c, p in self.partners.items()),
            ]
        else:
            del self.fields["partner"]
        if self.needs_reason:
            self.fields["reason"].required = True
        else:
            del self.fields["reason"]

    @property
    def label(self) -> str:
        return _label_of(Status, self.target)

    @property
    def is_reopen(self) -> bool:
        return self.incident.status in REOPEN_FROM and self.target == Status.INVESTIGATING

    def clean_to(self):
        to = self.cleaned_data["to"]
        if to != self.target:
            raise ValidationError(_("Choose one of the offered statuses."), code="invalid")
        return to

    def clean_partner(self):
        code = self.cleaned_data.get("partner")
        if code not in self.partners:
            raise ValidationError(_("Choose one of the partners engaged on this incident."), code="invalid_choice")
        return self.partners[code]


def _label_of(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


class SeverityForm(Form):
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args, incident: Incident, **kwargs):
        kwargs.setdefault("initial", {"severity": incident.severity})
        kwargs.setdefault("auto_id", "id_severity_%s")
        super().__init__(*args, **kwargs)
        self.incident = incident

    def clean_severity(self):
        severity = self.cleaned_data["severity"]
        if severity == self.incident.severity:
            raise ValidationError(_("The incident already has this severity."), code="unchanged")
        return severity


class OwnerForm(Form):
    owner = OwnerChoiceField(label=_("Owner"), queryset=None, required=False, empty_label=_("Nobody"))

    def __init__(self, *args, incident: Incident, user, owners=None, **kwargs):
        """`owners`: the choices read already (`incident_owner_choices`), for a form only shown;
        a submitted form checks the choice against the query."""
        kwargs.setdefault("initial", {"owner": incident.owner_id})
        kwargs.setdefault("auto_id", "id_owner_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["owner"]
        if owners is not None and not self.is_bound:  # shown only: no query to build
            field.listed = owners
            field.iterator = _ListedChoices
            field.widget.choices = field.choices
        else:
            field.queryset = incident_owner_choices(user=user)


class NoteForm(Form):
    body = forms.CharField(
        label=_("Note"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=20000,
        help_text=_("Markdown: **bold**, *italic*, lists, `code`, [links](https://…)."),
    )

    def clean_body(self):
        return self.cleaned_data["body"].strip()


class PercentField(forms.DecimalField):
    """A rate typed as a percentage with up to two decimals (92.5); converted to a share."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(
            max_digits=5,
            decimal_places=2,
            validators=[MinValueValidator(0), MaxValueValidator(100)],
            widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "100", "inputmode": "decimal"}),
            **kwargs,
        )


def share_to_percent(value: Decimal | None) -> Decimal | None:
    return None if value is None else (value * HUNDRED).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def percent_to_share(value: Decimal | None) -> Decimal | None:
    return None if value is None else (value / HUNDRED).quantize(SHARE, rounding=ROUND_HALF_UP)


def _edit_in_row(form: forms.Form, *, form_id: str, chooser: str) -> None:
    """Make `form` edit one row of a table in place: its inputs sit in the row's cells, tied to
    the form by id, and the choice of what the row is about (`chooser`) is gone: it stays fixed."""
    del form.fields[chooser]
    form.form_id = form_id
    for field in form.fields.values():
        field.widget.attrs["form"] = form_id


class MerchantImpactForm(Form):
    """Add a merchant or change its measured impact (merchant_impact_add / _update)."""

    merchant = MerchantChoiceField(label=_("Merchant"), queryset=None)
    baseline_pct = PercentField(label=_("Baseline approval rate (%)"))
    observed_pct = PercentField(label=_("Observed approval rate (%)"))
    attempts = forms.IntegerField(label=_("Attempts"), min_value=0, initial=0)
    failed_attempts = forms.IntegerField(
        label=_("Failed attempts"),
        min_value=0,
        required=False,
        help_text=_("Leave empty to derive them from the observed rate."),
    )
    volume_at_risk = forms.DecimalField(
        label=_("Volume at risk"), min_value=0, max_digits=16, decimal_places=2, initial=0
    )
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3, initial="MXN")
    rate_definition = forms.ChoiceField(
        label=_("Rate definition"),
        choices=AffectedMerchant.RateDefinition.choices,
        initial=AffectedMerchant.RateDefinition.ALL_ATTEMPTS,
    )

    # Model field → form field, to put a service's error on the right input.
    field_map = {"baseline_rate": "baseline_pct", "observed_rate": "observed_pct", "incident": "merchant"}

    def __init__(self, *args, incident: Incident, user, row: AffectedMerchant | None = None, **kwargs):
        self.row = row
        if row is not None:
            kwargs.setdefault("auto_id", f"id_am{row.pk}_%s")
            kwargs.setdefault(
                "initial",
                {
                    "baseline_pct": share_to_percent(row.baseline_rate),
                    "observed_pct": share_to_percent(row.observed_rate),
                    "attempts": row.attempts,
                    "failed_attempts": row.failed_attempts,
                    "volume_at_risk": row.volume_at_risk,
                    "currency": row.currency,
                    "rate_definition": row.rate_definition,
                },
            )
        else:
            kwargs.setdefault("auto_id", "id_am_new_%s")
        super().__init__(*args, **kwargs)
        if row is not None:
            _edit_in_row(self, form_id=f"merchant-form-{row.pk}", chooser="merchant")
            self.fields["currency"].widget.attrs.update({"size": "3", "class": "currency"})
        else:
            self.fields["merchant"].queryset = merchants_addable_to(user=user, incident=incident)

    def clean_currency(self):
        currency = self.cleaned_data["currency"].strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValidationError(_("Use a three-letter ISO currency code such as MXN or USD."), code="currency")
        return currency

    def clean(self):
        cleaned = super().clean()
        attempts, failed = cleaned.get("attempts"), cleaned.get("failed_attempts")
        if attempts is not None and failed is not None and failed > attempts:
            self.add_error("failed_attempts", _("Failed attempts cannot exceed attempts."))
        return cleaned

    def measures(self) -> dict:
        """The cleaned values in the services' terms (rates as shares)."""
        data = self.cleaned_data
        return {
            "baseline_rate": percent_to_share(data.get("baseline_pct")),
            "observed_rate": percent_to_share(data.get("observed_pct")),
            "attempts": data["attempts"],
            "failed_attempts": data.get("failed_attempts"),
            "volume_at_risk": data["volume_at_risk"],
            "currency": data["currency"],
            "rate_definition": data["rate_definition"],
        }


class PartnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.get_kind_display()}"


class EngagementScopeForm(Form):
    """What one partner's notices show of the incident (engagement_scope_edit)."""

    bin_prefixes = bin_prefixes_field()
    networks = forms.MultipleChoiceField(
        label=_("Card networks"), choices=CardNetwork.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    entry_modes = forms.MultipleChoiceField(
        label=_("Entry modes"), choices=EntryMode.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    merchants = forms.ModelMultipleChoiceField(
        label=_("Merchants"), queryset=Merchant.objects.none(), widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, engagement: PartnerEngagement, scope=None, **kwargs):
        self.engagement = engagement
        kwargs.setdefault("auto_id", f"id_scope{engagement.pk}_%s")
        if scope is not None:
            kwargs.setdefault(
                "initial",
                {
                    "bin_prefixes": scope.bin_prefixes,
                    "networks": scope.networks,
                    "entry_modes": scope.entry_modes,
                    "merchants": [item.merchant.pk for item in scope.merchants],
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["merchants"].queryset = Merchant.objects.filter(
            impacts__incident_id=engagement.incident_id
        ).order_by("name")


class EngagementForm(Form):
    """Engage a partner, or record its folio and status (engagement_add / engagement_update)."""

    partner = PartnerChoiceField(label=_("Partner"), queryset=None)
    partner_status = forms.ChoiceField(
        label=_("Partner status"),
        choices=PartnerEngagement.PartnerStatus.choices,
        initial=PartnerEngagement.PartnerStatus.NOT_NOTIFIED,
    )
    folio = forms.CharField(label=_("Partner's folio"), max_length=80, required=False)

    field_map = {"incident": "partner"}

    def __init__(self, *args, incident: Incident, user, engagement: PartnerEngagement | None = None, **kwargs):
        self.engagement = engagement
        if engagement is not None:
            kwargs.setdefault("auto_id", f"id_pe{engagement.pk}_%s")
            kwargs.setdefault("initial", {"partner_status": engagement.partner_status, "folio": engagement.folio})
        else:
            kwargs.setdefault("auto_id", "id_pe_new_%s")
        super().__init__(*args, **kwargs)
        if engagement is not None:
            _edit_in_row(self, form_id=f"engagement-form-{engagement.pk}", chooser="partner")
        else:
            self.fields["partner"].queryset = partners_engageable_on(user=user, incident=incident)

    def clean_folio(self):
        return self.cleaned_data["folio"].strip()


# The queue -----------------------------------------------------------------------------------


class SavedViewForm(Form):
    name = forms.CharField(label=_("Name"), max_length=80, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


class QueueColumnsForm(Form):
    """The incident queue's optional columns, chosen in its column menu; `reset` goes back to the
    default columns."""

    column = forms.MultipleChoiceField(
        label=_("Columns"), required=False, choices=[(key, key) for key in QUEUE_COLUMNS]
    )
    reset = forms.BooleanField(required=False)

    def chosen_columns(self) -> list[str] | None:
        if self.cleaned_data.get("reset"):
            return None
        return list(dict.fromkeys(self.cleaned_data.get("column") or []))


class IncidentBulkForm(Form):
    """One bulk action on the checked rows; each action names the one field it needs."""

    MAX_ROWS = MAX_BULK_ROWS

    incident = forms.ModelMultipleChoiceField(
        label=_("Incidents"),
        queryset=None,
        error_messages={"required": _("Select at least one incident.")},
    )
    action = forms.ChoiceField(label=_("Action"), choices=BulkAction.choices)
    to_owner = forms.ChoiceField(label=_("Assign to"), required=False)
    to_status = forms.ChoiceField(label=_("Move to"), required=False, choices=[("", "—"), *Status.choices])
    to_severity = forms.ChoiceField(
        label=_("Change severity to"), required=False, choices=[("", "—"), *Severity.choices]
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)
    return_query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(self, *args, user, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incident"].queryset = incident_list_visible_to(user=user).order_by("reference")
        if owners is None:
            owners = incident_owner_choices(user=user)
        self.owners = {str(owner.pk): owner for owner in owners}
        self.fields["to_owner"].choices = [
            ("", "—"),
            (OWNER_NONE, _("Nobody (unassigned)")),
            *((pk, user_label(owner)) for pk, owner in self.owners.items()),
        ]

    def clean_incident(self):
        incidents = self.cleaned_data["incident"]
        if len(incidents) > self.MAX_ROWS:
            raise ValidationError(
                _("Select at most %(limit)d incidents at a time."), params={"limit": self.MAX_ROWS}, code="too_many"
            )
        return incidents

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        needed = {
            BulkAction.ASSIGN: ("to_owner", _("Choose who to assign the incidents to.")),
            BulkAction.STATUS: ("to_status", _("Choose the status to move the incidents to.")),
            BulkAction.SEVERITY: ("to_severity", _("Choose the new severity.")),
        }.get(action)
        if needed and not cleaned.get(needed[0]):
            self.add_error(needed[0], needed[1])
        if action == BulkAction.SEVERITY and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Say why the severity changes."))
        return cleaned

    def service_args(self) -> dict:
        data = self.cleaned_data
        action = data["action"]
        if action == BulkAction.ASSIGN:
            return {"owner": None if data["to_owner"] == OWNER_NONE else self.owners[data["to_owner"]]}
        if action == BulkAction.STATUS:
            return {"to": data["to_status"], "reason": data["reason"].strip()}
        return {"severity": data["to_severity"], "reason": data["reason"].strip()}


class DeclineCountForm(Form):
    """A decline code's counts before and during the outage (decline_counts_record)."""

    code = forms.CharField(label=_("Code"), max_length=64)
    count_before = forms.IntegerField(
        label=_("Count before"), min_value=0, max_value=10**12, required=False, help_text=_("Empty when unknown.")
    )
    count_during = forms.IntegerField(label=_("Count during"), min_value=0, max_value=10**12, initial=0)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_declinecount_%s")
        super().__init__(*args, **kwargs)

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip()
