"""WSGI entry point for gunicorn: `gunicorn payhealth.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.production")
application = get_wsgi_application()
