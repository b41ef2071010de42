"""The desk's two global pages, outside the `cases:` namespace: the home page (the queue) and the overview."""

from django.urls import path

from cases.views import overview, queue

urlpatterns = [
    path("", queue.incident_list, name="home"),  # the analysts' home is the queue
    path("overview/", overview.overview, name="overview"),
]
