"""SLA pages: the badges and the at-risk list, the policies, the leads' reports."""

from cases.sla.views import clocks, policies, reports

urlpatterns = [*clocks.urlpatterns, *policies.urlpatterns, *reports.urlpatterns]
