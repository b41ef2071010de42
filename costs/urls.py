"""The partner-cost pages under /costs/ (the API lives in `costs/api/`)."""

from django.urls import path  # noqa: F401 - the pages add their routes below

app_name = "costs"

urlpatterns: list = []
