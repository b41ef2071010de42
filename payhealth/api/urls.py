"""`/api/v1/`: every app's resources, the OpenAPI schema, Swagger UI and Redoc (served from the
app itself through drf-spectacular-sidecar, never from a CDN)."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

app_name = "api"

# The reference pages keep the site's Content-Security-Policy for scripts (the app's own files:
# Swagger UI's start-up script is a request of its own, the split view) and widen it for their
# libraries alone: Redoc writes its styles as <style> elements and searches in a worker made from a
# blob:, and both draw icons as data: images.
DOCS_POLICY = {"style-src": [UNSAFE_INLINE], "img-src": ["data:", "blob:"], "worker-src": [SELF, "blob:"]}
docs_policy = csp_update(DOCS_POLICY)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="swagger"),
    path("redoc/", docs_policy(SpectacularRedocView.as_view(url_name="api:schema")), name="redoc"),
]

# Each app adds its routes here: `path("", include("cases.api.urls"))` etc.
API_MODULES = [
    "accounts.api.urls",
    "alerts.api.urls",
    "partners.api.urls",
    "cases.api.urls",
    "cases.correspondence.api.urls",
    "cases.sla.api.urls",
    "cases.pir.api",
    "webhooks.api.urls",
    "monitoring.api.urls",
    "costs.api.urls",
]
urlpatterns += [path("", include(module)) for module in API_MODULES]
