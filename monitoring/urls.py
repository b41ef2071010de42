"""URLs of the detector's pages (its API lives in `monitoring/api/`)."""

from monitoring import views

app_name = "monitoring"
urlpatterns = views.urlpatterns
