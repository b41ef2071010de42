"""URLs of the cases app: each view module declares its own patterns."""

from cases.correspondence import views as correspondence
from cases.pir import views as pir
from cases.sla import views as sla
from cases.views import directory, followthrough, incident, palette, queue, samples

app_name = "cases"
urlpatterns = [
    *queue.urlpatterns,
    *incident.urlpatterns,
    *followthrough.urlpatterns,
    *samples.urlpatterns,
    *directory.urlpatterns,
    *correspondence.urlpatterns,
    *sla.urlpatterns,
    *pir.urlpatterns,
    *palette.urlpatterns,
]
