"""URLs of the webhooks pages, mounted under /webhooks/."""

from webhooks.views import urlpatterns  # noqa: F401

app_name = "webhooks"
