"""`/api/v1/` routes of partner costs."""

from django.urls import path  # noqa: F401 - the resources add their routes below
from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns = [
    *router.urls,
]
