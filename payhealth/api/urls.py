"""`/api/v1/`: every app's resources, the OpenAPI schema, Swagger UI and Redoc (served from the
app itself through drf-spectacular-sidecar, never from a CDN)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="swagger"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]

# Each app adds its routes here: `path("", include("cases.api.urls"))` etc.
API_MODULES = [
    "accounts.api.urls",
    "alerts.api.urls",
    "partners.api.urls",
    "cases.api.urls",
    "cases.correspondence.api.urls",
    "cases.sla.api.urls",
    "webhooks.api.urls",
]
urlpatterns += [path("", include(module)) for module in API_MODULES]
