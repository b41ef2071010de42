"""The root URLconf. Every app's URLs are included by module name, so the project package
imports no app (the apps sit above it)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("cases.urls.home")),
    path("", include("accounts.urls")),
    path("", include("cases.urls")),
    path("", include("cases.urls.partners")),
    path("", include("alerts.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("api/v1/", include("payhealth.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
