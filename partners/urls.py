"""URLs of the partners app."""

from partners import views, views_calendars, views_templates

app_name = "partners"
urlpatterns = [*views.urlpatterns, *views_templates.urlpatterns, *views_calendars.urlpatterns]
