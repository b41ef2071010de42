"""Absolute links for what leaves the app (mail, webhook payloads), from PAYHEALTH_SITE_URL."""

from django.conf import settings


def absolute_url(path: str) -> str:
    """`/incidents/PH-2026-000123/` → `https://payhealth.example.com/incidents/PH-2026-000123/`."""
    return settings.PAYHEALTH_SITE_URL.rstrip("/") + path
