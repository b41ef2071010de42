"""Forms of the correspondence screens: compose, per-message edit, approve/reject, the template
editor, and attaching an unmatched reply to an incident."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import PartnerEngagement
from cases.selectors import incident_list_visible_to, incident_visible_by_reference
from partners.models import NoticeTemplate, Partner
from partners.notices import INTERNAL_KINDS
from payhealth.forms import DateTimeLocalInput, Form


class NoticeComposeForm(Form):
    """Which notice, to whom: chosen engaged partners, or all of them (the bulk action)."""

    kind = forms.ChoiceField(
        label=_("Kind of notice"),
        # The internal update to a merchant's account team is drafted from the merchant's row, not here.
        choices=[choice for choice in NoticeTemplate.Kind.choices if choice[0] not in INTERNAL_KINDS],
        initial=NoticeTemplate.Kind.BREAKAGE,
    )
    partners = forms.ModelMultipleChoiceField(
        label=_("Partners"),
        queryset=Partner.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    all_partners = forms.BooleanField(label=_("All engaged partners"), required=False)
    next_update = forms.DateTimeField(
        label=_("Next update (your time)"),
        required=False,
        widget=DateTimeLocalInput,
        help_text=_("Optional: when the partners hear from us again."),
    )
    confirm_repeat = forms.BooleanField(
        label=_("Yes, send another breakage notice to partners that already got one"),
        required=False,
    )

    def __init__(self, *args, incident, suggested_kind=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.incident = incident
        if suggested_kind:
            self.fields["kind"].initial = suggested_kind
        self.fields["partners"].queryset = Partner.objects.filter(engagements__incident=incident).order_by("name")

    def clean(self):
        data = super().clean()
        if not data.get("all_partners") and not data.get("partners"):
            raise forms.ValidationError(_("Pick at least one partner, or all of them."), code="no_partner")
        return data

    def chosen_partners(self):
        """None means every engaged partner (the service then skips those not involved)."""
        return None if self.cleaned_data.get("all_partners") else list(self.cleaned_data["partners"])


class NoticeEditForm(Form):
    subject = forms.CharField(label=_("Subject"), max_length=300)
    body_text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 18}))

    def __init__(self, *args, notice=None, **kwargs):
        if notice is not None and not args and "data" not in kwargs:
            kwargs.setdefault("initial", {"subject": notice.subject, "body_text": notice.body_text})
        kwargs.setdefault("auto_id", f"id_notice{notice.pk if notice else ''}_%s")
        super().__init__(*args, **kwargs)


class NoticeDecisionForm(Form):
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, notice=None, **kwargs):
        kwargs.setdefault("auto_id", f"id_decision{notice.pk if notice else ''}_%s")
        super().__init__(*args, **kwargs)


class NoticeTemplateForm(Form):
    """One template text, and what to preview it against (an engaged partner of an incident)."""

    subject = forms.CharField(label=_("Subject"), max_length=250)
    body = forms.CharField(
        label=_("Body"), widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true", "class": "mono"})
    )
    engagement = forms.ModelChoiceField(
        label=_("Preview for"),
        queryset=PartnerEngagement.objects.none(),
        required=False,
        empty_label=_("Sample data"),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        incidents = incident_list_visible_to(user=user).order_by("-created_at")[:50]
        self.fields["engagement"].queryset = (
            PartnerEngagement.objects.filter(incident__in=list(incidents.values_list("pk", flat=True)))
            .select_related("incident", "partner")
            .order_by("-incident__created_at", "partner__name")
        )
        self.fields["engagement"].label_from_instance = lambda e: f"{e.incident.reference} · {e.partner.name}"


class InboundAttachForm(Form):
    """Which incident (and optionally which partner's thread) an unmatched message belongs to."""

    reference = forms.CharField(
        label=_("Incident reference"),
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": "PH-2026-000123", "autocomplete": "off"}),
    )
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.filter(active=True).order_by("name"),
        required=False,
        label=_("Partner thread"),
        empty_label=_("No partner (incident only)"),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_reference(self):
        self.incident = incident_visible_by_reference(user=self.user, reference=self.cleaned_data["reference"])
        if self.incident is None:
            raise ValidationError(_("There is no incident with this reference."), code="unknown_incident")
        return self.incident.reference

    def clean(self):
        cleaned = super().clean()
        partner = cleaned.get("partner")
        self.engagement = None
        if partner is not None and getattr(self, "incident", None) is not None:
            self.engagement = (
                PartnerEngagement.objects.select_related("partner")
                .filter(incident=self.incident, partner=partner)
                .first()
            )
            if self.engagement is None:
                self.add_error(
                    "partner",
                    _("%(partner)s is not engaged on %(reference)s.")
                    % {"partner": partner, "reference": self.incident.reference},
                )
        return cleaned


class AckAnswerForm(Form):
    """The partner's answer on the public acknowledgement page: sending it acknowledges the notice;
    the folio, the ETA (in the partner's own zone), an update and a file are optional."""

    contact = forms.ChoiceField(label=_("You are"))
    folio = forms.CharField(label=_("Your folio"), max_length=80, required=False)
    eta = forms.DateTimeField(
        label=_("Estimated resolution"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=DateTimeLocalInput,
    )
    update = forms.CharField(
        label=_("Update"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    file = forms.FileField(label=_("File (optional)"), required=False)

    def __init__(self, *args, recipients: list[str], max_file_bytes: int, allowed_types: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.max_file_bytes, self.allowed_types = max_file_bytes, allowed_types
        self.fields["contact"].choices = [(address, address) for address in recipients]
        if len(recipients) == 1:
            self.fields["contact"].initial = recipients[0]
            self.fields["contact"].widget = forms.HiddenInput()
        self.fields["file"].widget.attrs["accept"] = ",".join(sorted({*allowed_types, *allowed_types.values()}))

    def clean_eta(self):
        eta = self.cleaned_data.get("eta")
        if eta is not None and eta < timezone.now() - timedelta(minutes=5):
            raise ValidationError(_("This time has already passed; give the time you expect a solution."), code="past")
        return eta

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None:
            return None
        if upload.size > self.max_file_bytes:
            raise ValidationError(
                _("The file is larger than %(limit)s MB.") % {"limit": round(self.max_file_bytes / 1024 / 1024, 1)},
                code="file_too_large",
            )
        content_type = (upload.content_type or "").split(";")[0].strip().lower()
        if content_type not in self.allowed_types:
            raise ValidationError(_("Send a PDF, PNG, JPEG, text or CSV file."), code="file_type")
        return upload
