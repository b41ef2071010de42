"""URLs of the alerts app's pages (its API lives in `alerts/api/`)."""

from alerts import views

app_name = "alerts"
urlpatterns = views.urlpatterns
