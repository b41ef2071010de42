"""URLs of the cases app: each view module declares its own patterns."""

from cases.sla import views as sla
from cases.views import directory, inbound, incident, notices, queue

app_name = "cases"
urlpatterns = [
    *queue.urlpatterns,
    *incident.urlpatterns,
    *directory.urlpatterns,
    *notices.urlpatterns,
    *inbound.urlpatterns,
    *sla.urlpatterns,
]
