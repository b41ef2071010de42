"""The `partners:` URL namespace: the partners app's own pages (calendars) and the pages about
partners that read the desk's cases (the partner directory with its incidents, the notice
template editor that previews against an incident), so the partners app imports nothing of cases."""

from cases.correspondence.views import templates
from cases.views import directory
from partners.urls import urlpatterns as partner_pages

app_name = "partners"
urlpatterns = [*directory.partner_urlpatterns, *templates.urlpatterns, *partner_pages]
