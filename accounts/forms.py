from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Profile
from payhealth.forms import Form, ModelForm


class ProfileForm(ModelForm):
    class Meta:
        model = Profile
        fields = ["timezone", "language"]
        help_texts = {"timezone": _("An IANA time zone such as America/Mexico_City or America/New_York.")}


class ApiTokenForm(Form):
    """The name of a new personal API token; `api_token_create` says what a name must be."""

    name = forms.CharField(required=False, strip=False)
