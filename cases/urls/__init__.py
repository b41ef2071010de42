"""URLs of the cases app: each view module declares its own patterns."""

from cases.views import directory, inbound, incident, notices, queue, reports, sla, sla_policies

app_name = "cases"
urlpatterns = [
    *queue.urlpatterns,
    *incident.urlpatterns,
    *directory.urlpatterns,
    *notices.urlpatterns,
    *inbound.urlpatterns,
    *sla.urlpatterns,
    *sla_policies.urlpatterns,
    *reports.urlpatterns,
]
