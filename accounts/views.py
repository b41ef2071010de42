from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.forms import ProfileForm
from accounts.services import profile_for, profile_update


@login_required
def profile_edit(request):
    """The viewer's own preferences: time zone and preferred language."""
    profile = profile_for(user=request.user)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        profile_update(user=request.user, **form.cleaned_data)
        messages.success(request, _("Your preferences were saved."))
        response = redirect("profile")
        if form.cleaned_data["language"]:
            translation.activate(form.cleaned_data["language"])
            response.set_cookie("django_language", form.cleaned_data["language"])
        return response
    return render(request, "accounts/profile.html", {"form": form})
