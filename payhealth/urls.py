"""The root URLconf. Every app's URLs are included by module name, so the project package
imports no app (the apps sit above it)."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # First: an API call (a monitor's alert, an integration's poll) is matched on its prefix before
    # the pages' hundreds of patterns are tried.
    path("api/v1/", include("payhealth.api.urls")),
    path("", include("cases.urls.home")),
    path("", include("accounts.urls")),
    path("", include("cases.urls")),
    path("", include("cases.urls.partners")),
    path("", include("alerts.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("costs/", include("costs.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]

handler400 = "payhealth.views.bad_request"
handler403 = "payhealth.views.permission_denied"
handler404 = "payhealth.views.page_not_found"
handler500 = "payhealth.views.server_error"
