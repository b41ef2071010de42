"""Signing in and out, and a person's own settings: profile and API tokens (global URL names)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", views.profile_edit, name="profile"),
    path("accounts/tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/tokens/<int:pk>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
    # The header's language switch: Django's own view at its own address (this URLconf is
    # included before Django's i18n URLs, so this one answers), which also saves the choice on
    # the signed-in person's profile.
    path("i18n/setlang/", views.set_language, name="set_language"),
]
