from django import forms
from django.utils.translation import gettext_lazy as _

from payhealth.forms import Form
from webhooks.models import SUBSCRIBABLE_EVENTS


class WebhookSubscriptionForm(Form):
    """Shape only; the service validates the rest (URL scheme, events) and its errors land here."""

    name = forms.CharField(label=_("Name"), max_length=80, help_text=_("What receives it, e.g. the incident chat bot."))
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https", help_text=_("http:// or https://"))
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=SUBSCRIBABLE_EVENTS, widget=forms.CheckboxSelectMultiple
    )
