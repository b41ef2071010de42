"""Development: `make run`. Debug on unless DEBUG says otherwise; a fixed, public dev key."""

from payhealth import config
from payhealth.settings.base import *  # noqa: F403

DEBUG = config.env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "payhealth-local-development-key-not-for-production"  # noqa: F405
