"""URLs of the cases app: each view module declares its own patterns."""

from cases.views import directory, incident, queue

app_name = "cases"
urlpatterns = [*queue.urlpatterns, *incident.urlpatterns, *directory.urlpatterns]
