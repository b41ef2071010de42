"""URLs of the cases app: each view module declares its own patterns."""

from cases.correspondence import views as correspondence
from cases.sla import views as sla
from cases.views import directory, incident, queue, samples

app_name = "cases"
urlpatterns = [
    *queue.urlpatterns,
    *incident.urlpatterns,
    *samples.urlpatterns,
    *directory.urlpatterns,
    *correspondence.urlpatterns,
    *sla.urlpatterns,
]
