"""PayHealth: a case desk for payments health operations."""

from payhealth.celery import app as celery_app

__all__ = ("celery_app",)
