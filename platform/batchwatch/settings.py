"""Batchwatch settings, read from the environment.

Two topologies share this file:

* **embedded** (the default, ``make run``): SQLite in WAL mode under ``var/`` and an in-process
  scheduler thread; nothing else to install.
* **production** (``BATCHWATCH_ENV=production``): PostgreSQL through ``DATABASE_URL`` (psycopg 3),
  Celery workers and beat on ``REDIS_URL``, HTTPS-only cookies and HSTS.

Every variable is listed in ``docs/operations.md``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet as _Fernet
from django.core.exceptions import ImproperlyConfigured

PACKAGE_DIR = Path(__file__).resolve().parent  # platform/batchwatch
REPO_ROOT = PACKAGE_DIR.parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not known; use " + " or ".join(repr(c) for c in choices) + "."
        )
    return value


def _env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


BATCHWATCH_ENV = os.environ.get("BATCHWATCH_ENV", "development").strip().lower()
if BATCHWATCH_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"BATCHWATCH_ENV={BATCHWATCH_ENV!r} is not known; use 'development' or 'production'."
    )
PRODUCTION = BATCHWATCH_ENV == "production"

VAR_DIR = Path(os.environ.get("BATCHWATCH_VAR_DIR", REPO_ROOT / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _development_secret_key() -> str:
    """A key generated once per checkout, so sessions survive restarts of ``make run``."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in production mode (BATCHWATCH_ENV=production); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _development_secret_key()

# DEBUG is opt-in even in development: a traceback page is never what an on-call engineer
# should see, and tests should run like production does.
DEBUG = _env_bool("BATCHWATCH_DEBUG", False) and not PRODUCTION

BATCHWATCH_BASE_URL = os.environ.get("BATCHWATCH_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(BATCHWATCH_BASE_URL)
if _base.scheme not in {"http", "https"} or not _base.hostname:
    raise ImproperlyConfigured(
        f"BATCHWATCH_BASE_URL={BATCHWATCH_BASE_URL!r} must be an absolute http(s) URL, "
        "e.g. https://batchwatch.example.com"
    )

_default_hosts = [_base.hostname]
if not PRODUCTION:
    _default_hosts += ["127.0.0.1", "localhost", "[::1]", "testserver"]
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", sorted(set(_default_hosts)))
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [f"{_base.scheme}://{_base.netloc}"])

# --- Topology --------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Embedded mode: no broker; the in-process scheduler runs periodic work and delivers the outbox.
BATCHWATCH_EMBEDDED = not REDIS_URL

# --- Applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "batchwatch.core",
    "batchwatch.catalog",
    "batchwatch.runs",
    "batchwatch.ingest",
    "batchwatch.slo",
    "batchwatch.notify",
    "batchwatch.oncall",
    "batchwatch.alerts",
    "batchwatch.slack",
    "batchwatch.runbooks",
    "batchwatch.dashboards",
    "batchwatch.audit",
    "batchwatch.accounts",
    "batchwatch.web",
    "batchwatch.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF: an OTLP exporter posting to / or to a wrong path gets an OTLP Status
    # naming the endpoints, not the web app's CSRF page.
    "batchwatch.ingest.middleware.OtlpMisdirectedMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Pages show times in the viewer's zone (their setting, else their browser's, else UTC).
    "batchwatch.accounts.middleware.ViewerTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that its process_exception sees a view's exception first: 503 when the
    # database is unavailable; NUL in a URL is a 400.
    "batchwatch.core.middleware.EdgeMiddleware",
    # Innermost, as django-axes asks: turns a sign-in it refused into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "batchwatch.urls"
WSGI_APPLICATION = "batchwatch.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "batchwatch.web.context_processors.batchwatch",
                "batchwatch.demo.context_processors.demo",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip() or (
    f"sqlite:///{VAR_DIR / 'batchwatch.sqlite3'}"
)


def _database_from_url(url: str) -> dict:
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj-database-url raises bare ValueErrors and KeyErrors
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL I can use: {exc}") from None
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # WAL lets the web threads read while the scheduler writes; NORMAL sync is durable
            # across process crashes in WAL mode; foreign keys are off by default in SQLite.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
            # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the busy
            # timeout instead of one failing with "database is locked" mid-transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif engine == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
        config["OPTIONS"].setdefault("connect_timeout", 5)
    else:
        raise ImproperlyConfigured(
            f"DATABASE_URL uses {engine}; Batchwatch supports sqlite:/// and postgres:// URLs."
        )
    return config


DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery ------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Redis down must cost a second at most, never hang a page (core/cache.py falls
            # back to this process's memory).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web process must not hang on a dead broker: the outbox sweep covers what it cannot send.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True

# --- Auth ------------------------------------------------------------------------------------
# Wrong credentials (API tokens, ingest keys, integration tokens) per client address and
# window before answering 429 (core/ratelimit.py); valid credentials are never throttled.
BATCHWATCH_BAD_CREDENTIAL_LIMIT = _env_int("BATCHWATCH_BAD_CREDENTIAL_LIMIT", 30)
BATCHWATCH_BAD_CREDENTIAL_WINDOW_SECONDS = _env_int("BATCHWATCH_BAD_CREDENTIAL_WINDOW_SECONDS", 60)
# Reverse proxies in front of the web processes whose X-Forwarded-For is trusted.
BATCHWATCH_TRUSTED_PROXY_COUNT = _env_int("BATCHWATCH_TRUSTED_PROXY_COUNT", 0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:now"  # the signed-in home: what needs me now
LOGOUT_REDIRECT_URL = "login"
# Sign-in lockouts (django-axes, web login and admin): a user name is locked after
# BATCHWATCH_LOGIN_FAILURES_PER_USER wrong passwords from anywhere, an address after
# BATCHWATCH_LOGIN_FAILURES_PER_ADDRESS for any user names, each until
# BATCHWATCH_LOGIN_COOLOFF_MINUTES pass without a new failure. A locked sign-in is refused
# before the password is hashed, with a 429 page and Retry-After (web/lockout.py); staff see
# and delete lockouts in admin (Axes → Access attempts) or with `manage.py axes_reset_username`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked sign-ins
    "django.contrib.auth.backends.ModelBackend",
]
BATCHWATCH_LOGIN_FAILURES_PER_USER = max(1, _env_int("BATCHWATCH_LOGIN_FAILURES_PER_USER", 5))
BATCHWATCH_LOGIN_FAILURES_PER_ADDRESS = max(
    1, _env_int("BATCHWATCH_LOGIN_FAILURES_PER_ADDRESS", 20)
)
BATCHWATCH_LOGIN_COOLOFF_MINUTES = max(1, _env_int("BATCHWATCH_LOGIN_COOLOFF_MINUTES", 15))
AXES_HANDLER = "batchwatch.web.lockout.LoginAttempts"  # the two limits above
# Separate criteria, not a combination: per user name (from any address) and per address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = BATCHWATCH_LOGIN_FAILURES_PER_USER
AXES_COOLOFF_TIME = timedelta(minutes=BATCHWATCH_LOGIN_COOLOFF_MINUTES)
# The address as the rest of Batchwatch sees it (BATCHWATCH_TRUSTED_PROXY_COUNT applies).
AXES_CLIENT_IP_CALLABLE = "batchwatch.core.ratelimit.client_ip"
AXES_LOCKOUT_CALLABLE = "batchwatch.web.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "batchwatch.web.lockout.attempted_username"  # at most 150 characters
# A success does not clear the failures: it would also clear the address's, and someone with
# an account of their own could then guess other users' passwords without end.
AXES_RESET_ON_SUCCESS = False
# The version banner on every manage.py command is noise in operators' logs.
AXES_VERBOSE = False

# --- Internationalisation: storage and computation in UTC; pages in the viewer's zone ---------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns at start-up when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production, serve straight from the apps: `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes anonymous API calls 401, not 403.
        "batchwatch.accounts.authentication.TokenAuthentication",
        "batchwatch.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    # DRF's, refusing NUL, lone surrogates and nesting beyond the parser (400, not 500).
    "DEFAULT_PARSER_CLASSES": [
        "batchwatch.core.parsers.JSONParser",
        "batchwatch.core.parsers.FormParser",
        "batchwatch.core.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "batchwatch.core.pagination.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "batchwatch.core.schema.AutoSchema",  # with the refusals
    "EXCEPTION_HANDLER": "batchwatch.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Batchwatch API",
    "DESCRIPTION": (
        "Catalog of batch jobs and teams, runs, SLOs and on-call. Authenticate with "
        "`Authorization: Token <token>` (or `Bearer <token>`) with a personal API token: create "
        "one on your account page (/account/tokens/) or with POST /api/v1/tokens/."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The intake endpoints are plain views in their senders' formats: documented by hand.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "batchwatch.ingest.openapi.document",
        "batchwatch.alerts.openapi.document",
        # Last: every operation, the intake's included, tagged with its area (and the areas
        # listed with their descriptions).
        "batchwatch.core.openapi.tag_by_area",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStateEnum": "batchwatch.runs.models.RunState",
        "IncidentStateEnum": "batchwatch.alerts.models.Incident.State",
        "IntegrationKindEnum": "batchwatch.alerts.models.Integration.Kind",
        "ContactMethodKindEnum": "batchwatch.accounts.models.ContactMethod.Kind",
        "NotificationUrgencyEnum": "batchwatch.accounts.models.NotificationRule.Urgency",
        # Named so that it keeps the name it had before rules had an urgency too.
        "UrgencyEnum": "batchwatch.alerts.models.Incident.Urgency",
    },
}

# --- Production hardening (all pass `manage.py check --deploy`) ---------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    # Probes and scrapes come over plain HTTP from inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts only from our own static files (no inline
# script anywhere, the API docs load theirs from a URL); style attributes stay allowed because
# bar widths (rotation, trace waterfall) are computed per row, and template autoescaping keeps
# sender text out of markup. No framing, no plugins, no <base>, forms post only to us.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
SESSION_COOKIE_HTTPONLY = True

# --- Logging: one line per event, to stderr, for the container runtime to collect ----------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "batchwatch.core.logfmt.KeyValueFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Catalog writes are routine; INFO would drown a CLI run such as load_demo.
        "batchwatch.catalog": {"level": os.environ.get("LOG_LEVEL", "WARNING").upper()},
    },
}

# --- Batchwatch ------------------------------------------------------------------------------
# How often the embedded scheduler looks for due periodic work.
BATCHWATCH_SCHEDULER_TICK_SECONDS = float(os.environ.get("BATCHWATCH_SCHEDULER_TICK_SECONDS", "1"))

# --- Ingest ----------------------------------------------------------------------------------
# Largest body accepted, after decompression (OTLP's usual default is 20 MiB).
BATCHWATCH_INGEST_MAX_BODY_BYTES = _env_int("BATCHWATCH_INGEST_MAX_BODY_BYTES", 20 * 1024 * 1024)
# Keyless ingest is a convenience of the embedded default; production always needs a key.
BATCHWATCH_INGEST_ALLOW_ANONYMOUS = (
    _env_bool("BATCHWATCH_INGEST_ALLOW_ANONYMOUS", True) and not PRODUCTION
)
# Ingest requests writing at once; others wait this long for a slot, then get 503 + Retry-After.
BATCHWATCH_INGEST_MAX_CONCURRENCY = _env_int("BATCHWATCH_INGEST_MAX_CONCURRENCY", 4)
BATCHWATCH_INGEST_QUEUE_SECONDS = float(os.environ.get("BATCHWATCH_INGEST_QUEUE_SECONDS", "5"))
# While the database is unavailable (a restart, a fail-over), an ingest request waits for it
# this long before it is answered 503 with Retry-After: 1. Exporters that honour Retry-After
# (the OpenTelemetry SDKs) then retry within their 10 s default timeout, each try held a few
# seconds: a batch survives an outage that ends before its exporter gives up (docs/telemetry.md).
BATCHWATCH_INGEST_DB_WAIT_SECONDS = float(os.environ.get("BATCHWATCH_INGEST_DB_WAIT_SECONDS", "2"))
# Flink REST APIs the scheduler polls every minute (comma-separated URLs).
BATCHWATCH_FLINK_URLS = _env_list("BATCHWATCH_FLINK_URLS", [])
# A bearer token Prometheus must send to scrape /metrics (unset: open, as usual in-cluster).
BATCHWATCH_METRICS_TOKEN = os.environ.get("BATCHWATCH_METRICS_TOKEN", "").strip()

# --- Alerting and notifications ----------------------------------------------------------------
# E-mail pages: printed to the console in development, SMTP (EMAIL_HOST...) in production.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "batchwatch@localhost")
# A sending notification whose worker died is claimed again after this lease (a live worker
# renews the leases of what it holds every second or so: notify/leases.py).
BATCHWATCH_OUTBOX_LEASE_SECONDS = _env_int("BATCHWATCH_OUTBOX_LEASE_SECONDS", 5)
# Attempts before a notification that keeps failing temporarily is given up (failed).
BATCHWATCH_OUTBOX_MAX_ATTEMPTS = _env_int("BATCHWATCH_OUTBOX_MAX_ATTEMPTS", 12)
# Timeout of one outgoing webhook or Slack call.
BATCHWATCH_OUTBOX_HTTP_TIMEOUT = float(os.environ.get("BATCHWATCH_OUTBOX_HTTP_TIMEOUT", "5"))
# Private, loopback and link-local destinations that outgoing requests (webhooks) may reach:
# comma-separated CIDRs or host names (".example.com" for subdomains too). Loopback is
# allowed outside production, where development and tests run their receivers (core/outbound.py).
BATCHWATCH_OUTBOUND_ALLOW = _env_list("BATCHWATCH_OUTBOUND_ALLOW", [])
# Fernet keys (comma-separated) for integration secrets stored in the database (Slack bot
# token, signing secret): the first encrypts, all decrypt, so a new key goes first and the old
# one stays until `manage.py rotate_secret_keys` re-encrypted everything (core/crypto.py).
# Unset: a key derived from SECRET_KEY (production should set its own: check --deploy warns).
BATCHWATCH_SECRET_KEYS = _env_list("BATCHWATCH_SECRET_KEYS", [])
for _number, _key in enumerate(BATCHWATCH_SECRET_KEYS, start=1):
    try:
        _Fernet(_key)
    except (ValueError, TypeError):  # the sentence never repeats the value: it is a secret
        raise ImproperlyConfigured(
            f"BATCHWATCH_SECRET_KEYS: key {_number} is not a Fernet key (32 url-safe base64 "
            "bytes); generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None
# Sender threads of `manage.py alerts worker` (each with its own connection), fed notifications
# claimed a few at a time: a storm's 500 webhooks should not go out one by one.
BATCHWATCH_OUTBOX_CONCURRENCY = max(1, _env_int("BATCHWATCH_OUTBOX_CONCURRENCY", 8))
# Runs from OTLP traces: "inline" converges a request's runs in the request; "queued" stores
# its spans and queues what it says about runs in one transaction, answers, and the ingest
# drain (alerts worker, Celery beat or the embedded scheduler) converges them in order.
BATCHWATCH_INGEST_RUNS = _env_choice(
    "BATCHWATCH_INGEST_RUNS", "inline" if BATCHWATCH_EMBEDDED else "queued", ("inline", "queued")
)
# Alert intake: "inline" processes a webhook's alerts (dedup, grouping, routing) in the request;
# "queued" answers once the parsed alerts are committed to the intake queue, and the intake
# drain (alerts worker, Celery beat or the embedded scheduler) processes them in order, as of
# their arrival. Queued by default in production (with a broker), inline when embedded.
BATCHWATCH_ALERT_INTAKE = _env_choice(
    "BATCHWATCH_ALERT_INTAKE", "inline" if BATCHWATCH_EMBEDDED else "queued", ("inline", "queued")
)
# Nice increment of the queue-draining thread of `manage.py alerts worker` (Linux): during a
# storm the drain yields the CPU to the web processes answering the senders and to the
# worker's own timers and deliveries (pages), and takes what they leave. 0 keeps it equal.
BATCHWATCH_DRAIN_NICE = min(19, max(0, _env_int("BATCHWATCH_DRAIN_NICE", 10)))
# A pending timer (group flush, escalation step) this late is reported as overdue.
BATCHWATCH_TIMER_OVERDUE_SECONDS = _env_int("BATCHWATCH_TIMER_OVERDUE_SECONDS", 300)
# Runbooks as code: the directory `runbooks sync` loads (also at start-up).
BATCHWATCH_RUNBOOKS_DIR = os.environ.get("BATCHWATCH_RUNBOOKS_DIR", str(REPO_ROOT / "runbooks"))
# Runbooks not reviewed for this many days get a warning from `runbooks check`.
BATCHWATCH_RUNBOOK_REVIEW_DAYS = _env_int("BATCHWATCH_RUNBOOK_REVIEW_DAYS", 180)
# Grafana (dashboards as code): links from alerts, runbooks and Slack use it when set.
GRAFANA_URL = os.environ.get("GRAFANA_URL", "").strip()
# The engines' own UIs, linked from an incident's alerts when set (empty: no link): a Spark
# history server, a Flink web UI (JobManager), an Airflow webserver.
BATCHWATCH_SPARK_HISTORY_URL = os.environ.get("BATCHWATCH_SPARK_HISTORY_URL", "").strip()
BATCHWATCH_FLINK_UI_URL = os.environ.get("BATCHWATCH_FLINK_UI_URL", "").strip()
BATCHWATCH_AIRFLOW_URL = os.environ.get("BATCHWATCH_AIRFLOW_URL", "").strip()
# Hosts (comma-separated) that Slack link buttons may point to besides Batchwatch and Grafana,
# e.g. a wiki with runbooks or a CI server; URLs from alerts to any other host get no button.
BATCHWATCH_LINK_HOSTS = [
    h.strip().lower() for h in os.environ.get("BATCHWATCH_LINK_HOSTS", "").split(",") if h.strip()
]
BATCHWATCH_DASHBOARD_UID_PREFIX = os.environ.get("BATCHWATCH_DASHBOARD_UID_PREFIX", "bw-")
# Incremental SLO passes look again at runs written this many seconds before a state's last
# check: it must exceed the longest transaction that writes runs (an ingest request).
BATCHWATCH_SLO_CHECK_MARGIN_SECONDS = float(
    os.environ.get("BATCHWATCH_SLO_CHECK_MARGIN_SECONDS", "5")
)
# The source revision named in deployed dashboards' version messages (default: git HEAD).
BATCHWATCH_REVISION = os.environ.get("BATCHWATCH_REVISION", "").strip()
# A service-account token for `dashboards diff|deploy` (or --token).
GRAFANA_TOKEN = os.environ.get("GRAFANA_TOKEN", "").strip()
# The Prometheus datasource the generated panels query, as Grafana's {type, uid}.
BATCHWATCH_GRAFANA_DATASOURCE_UID = os.environ.get(
    "BATCHWATCH_GRAFANA_DATASOURCE_UID", "prometheus"
)
BATCHWATCH_GRAFANA_DATASOURCE_TYPE = os.environ.get(
    "BATCHWATCH_GRAFANA_DATASOURCE_TYPE", "prometheus"
)
# The dashboards-as-code sources (dashboards/*.dashboard.py).
BATCHWATCH_DASHBOARDS_DIR = os.environ.get(
    "BATCHWATCH_DASHBOARDS_DIR", str(REPO_ROOT / "dashboards")
)
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "").strip()
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/").strip()
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "").strip()
# Interactions carry a response_url; we only ever POST to Slack's own.
SLACK_RESPONSE_URL_PREFIXES = _env_list("SLACK_RESPONSE_URL_PREFIXES", ["https://hooks.slack.com/"])
# A burst of incident changes within this many seconds gives one chat.update.
SLACK_UPDATE_COALESCE_SECONDS = float(os.environ.get("SLACK_UPDATE_COALESCE_SECONDS", "2"))

# --- Phone, SMS and push pages (issue 22) -------------------------------------------------------
# Twilio, or any provider speaking its Messages and Calls APIs, by base URL. The auth token also
# checks X-Twilio-Signature on the inbound SMS and voice webhooks.
BATCHWATCH_TWILIO_BASE_URL = os.environ.get(
    "BATCHWATCH_TWILIO_BASE_URL", "https://api.twilio.com"
).rstrip("/")
BATCHWATCH_TWILIO_ACCOUNT_SID = os.environ.get("BATCHWATCH_TWILIO_ACCOUNT_SID", "").strip()
BATCHWATCH_TWILIO_AUTH_TOKEN = os.environ.get("BATCHWATCH_TWILIO_AUTH_TOKEN", "").strip()
BATCHWATCH_TWILIO_FROM = os.environ.get("BATCHWATCH_TWILIO_FROM", "").strip()  # E.164
# Push through ntfy (self-hostable; Android and iOS apps): one topic per user on this server.
BATCHWATCH_NTFY_URL = os.environ.get("BATCHWATCH_NTFY_URL", "").rstrip("/")
BATCHWATCH_NTFY_TOKEN = os.environ.get("BATCHWATCH_NTFY_TOKEN", "").strip()
# Forwarding to PagerDuty (Events API v2) for teams that keep a SaaS pager during migration.
BATCHWATCH_PAGERDUTY_EVENTS_URL = os.environ.get(
    "BATCHWATCH_PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue"
).strip()
# One-time action links (acknowledge, resolve, snooze) in e-mail, SMS and push expire after this.
BATCHWATCH_ACTION_LINK_HOURS = _env_int("BATCHWATCH_ACTION_LINK_HOURS", 24)
