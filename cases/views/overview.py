from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from cases.selectors import incident_overview


@login_required
@permission_required("cases.view_incident", raise_exception=True)
def overview(request):
    """The desk at a glance: open incidents by severity and the most urgent open ones."""
    return render(request, "cases/home.html", incident_overview(user=request.user))
