"""URLs of the partners app."""

from partners import views, views_templates

app_name = "partners"
urlpatterns = [*views.urlpatterns, *views_templates.urlpatterns]
