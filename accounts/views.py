import math

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_POST

from accounts.forms import ApiTokenForm, ProfileForm
from accounts.models import ApiToken
from accounts.services import (
    api_token_create,
    api_token_revoke,
    profile_for,
    profile_language_set,
    profile_update,
)
from payhealth.i18n import Language


def remember_language(response, language: str) -> None:
    """The browser keeps `language` (Django's language cookie); an empty one forgets it, so the
    browser's own languages (Accept-Language) choose again."""
    if not language:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN
        )
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class LoginView(auth_views.LoginView):
    """Django's sign-in; then the language saved on the person's profile is the browser's, so a
    new browser (or one whose cookie was cleared) comes back in the language they chose."""

    def form_valid(self, form):
        response = super().form_valid(form)
        language = profile_for(user=form.get_user()).language
        if language:
            translation.activate(language)
            remember_language(response, language)
        return response


def set_language(request):
    """The language switch at the top of every page (Django's `set_language`), which also saves
    the choice on a signed-in person's profile, so their next sign-in, anywhere, keeps it."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "") if request.method == "POST" else ""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and language in Language.values:
        profile_language_set(user=user, language=language)
    return response


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
        remember_language(response, form.cleaned_data["language"])
        return response
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def api_tokens(request):
    """The viewer's personal API tokens: create one (shown once, here and now) or revoke one."""
    created = None
    error = ""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and not form.is_valid():
        error = " ".join(form.errors["name"])
    elif request.method == "POST":
        try:
            token, plain = api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            error = " ".join(exc.message_dict.get("name", exc.messages))
        else:
            created = {"token": token, "plain": plain}
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    status = 400 if error else 200
    # The name shown again is the form's: a card number typed in it comes back masked.
    context = {"tokens": tokens, "created": created, "error": error, "name": form.data.get("name", "")}
    return render(request, "accounts/api_tokens.html", context, status=status)


@login_required
@require_POST
def api_token_revoke_view(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)  # another user's token is a 404
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("api_tokens")


def login_locked_out(request, original_response=None, credentials=None):
    """The answer to a sign-in refused by login throttling (django-axes calls it): a page of the
    site saying for how long, 429 with Retry-After. It names no user, so it tells an attacker
    nothing about which usernames exist."""
    seconds = int(get_cool_off(request).total_seconds())
    context = {"minutes": math.ceil(seconds / 60)}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
