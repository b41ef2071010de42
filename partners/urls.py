"""URLs of the partners app."""

from partners import views

app_name = "partners"
urlpatterns = views.urlpatterns
