from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Profile


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["timezone", "language"]
        help_texts = {"timezone": _("An IANA time zone such as America/Mexico_City or America/New_York.")}
