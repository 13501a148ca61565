"""Settings, read from the environment with safe development defaults.

Every variable is documented in README.md and listed in .env.example. Production
(DEBUG off) refuses to start without a real SECRET_KEY.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


DEBUG = env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set DEBUG=1 for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY must be a real secret of at least 32 characters.")

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "membership",
    "pos_bridge",
    "liff",
    "line_messaging",
    "line_sandbox",
    "hq",
    "analytics",
    "broadcasts",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ApiMethodNotAllowedMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hq.context_processors.hq_access",
            ],
        },
    },
]

# The covering index on purchases (member, occurred_at) INCLUDE (total, refunded_amount)
# is a PostgreSQL optimisation for segment counts; SQLite builds it on the key columns,
# which is what it should do, so its warning about that is only noise in `make run`.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Django's password login, refused while an account or address is guessing (audit/).
AUTHENTICATION_BACKENDS = ["audit.login_throttle.ThrottledModelBackend"]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE takes the write lock at the start of each transaction, so two
    # concurrent point movements queue up instead of failing with "database is locked"
    # when one upgrades its read lock. The timeout lets them wait their turn.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # One test database per test process, so two suites (a developer's and a CI run, or
    # parallel helpers) never drop each other's database. pytest-django removes it after.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    if env_bool("DB_PREPARED_STATEMENTS", default=True):
        # Parameters bound by the server, and each statement prepared once per connection
        # after its second run: PostgreSQL then skips parsing and planning the ~12
        # statements a purchase repeats (a third less PostgreSQL CPU a purchase, measured
        # with bench/bench_purchases.py). Turn off behind a pooler that cannot carry
        # prepared statements across server connections (pgbouncer before 1.21 in
        # transaction mode).
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 2}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE") or "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Domain settings ---------------------------------------------------------
# How long an idempotency key is remembered. The POS contract promises at least 72 hours.
IDEMPOTENCY_KEY_TTL_HOURS = max(72, env_int("IDEMPOTENCY_KEY_TTL_HOURS", 96))
# How long a claimed-but-unfinished idempotent request blocks its key (409) before a retry
# may take over. Covers a worker that died mid-request.
IDEMPOTENCY_LEASE_SECONDS = env_int("IDEMPOTENCY_LEASE_SECONDS", 30)
# Lifetime of the short-lived card code shown as the member card QR (at most 60 seconds).
CARD_CODE_TTL_SECONDS = min(60, max(10, env_int("CARD_CODE_TTL_SECONDS", 60)))

# --- LINE Platform -----------------------------------------------------------
# Real LINE by default. LINE_SANDBOX=1 points every LINE call at the built-in sandbox
# (line_sandbox/, served by this same server) and fills in sandbox credentials.
SITE_URL = (os.environ.get("SITE_URL") or "http://127.0.0.1:8000").rstrip("/")
LINE_SANDBOX = env_bool("LINE_SANDBOX", default=False)
if LINE_SANDBOX and not DEBUG:
    raise ImproperlyConfigured("LINE_SANDBOX=1 is for development; production must use real LINE.")
# The sandbox's pages and fake LINE APIs (it issues ID tokens!) are served only in
# development and tests, never in production, whatever LINE_SANDBOX says.
LINE_SANDBOX_ROUTES = DEBUG
_sandbox = f"{SITE_URL}/line-sandbox" if LINE_SANDBOX else None
LINE_API_BASE_URL = (
    os.environ.get("LINE_API_BASE_URL")
    or (f"{_sandbox}/api" if _sandbox else "https://api.line.me")
).rstrip("/")
LINE_API_DATA_BASE_URL = (
    os.environ.get("LINE_API_DATA_BASE_URL")
    or (f"{_sandbox}/api-data" if _sandbox else "https://api-data.line.me")
).rstrip("/")
LINE_ACCESS_BASE_URL = (
    os.environ.get("LINE_ACCESS_BASE_URL")
    or (f"{_sandbox}/access" if _sandbox else "https://access.line.me")
).rstrip("/")
LINE_CHANNEL_SECRET = os.environ.get("LINE_CHANNEL_SECRET") or (
    "sandbox-channel-secret-0123456789abcdef" if LINE_SANDBOX else ""
)
LINE_CHANNEL_ACCESS_TOKEN = os.environ.get("LINE_CHANNEL_ACCESS_TOKEN") or (
    "sandbox-channel-access-token" if LINE_SANDBOX else ""
)
LINE_LOGIN_CHANNEL_ID = os.environ.get("LINE_LOGIN_CHANNEL_ID") or (
    "1650000000" if LINE_SANDBOX else ""
)
LIFF_ID = os.environ.get("LIFF_ID") or ("1650000000-sandbox" if LINE_SANDBOX else "")
# Where the sandbox delivers webhooks (real LINE uses the URL set in the LINE console).
LINE_SANDBOX_WEBHOOK_URL = os.environ.get("LINE_SANDBOX_WEBHOOK_URL") or f"{SITE_URL}/line/webhook"
# Multiplies waits after a LINE 429 (tests set 0: no real sleeping).
LINE_BACKOFF_SCALE = float(os.environ.get("LINE_BACKOFF_SCALE") or 1.0)
# Celery is optional: with a broker URL, outbox writes wake a Celery worker at once.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
# For `celery -A config beat`: the same periodic work cron runs without Celery.
CELERY_BEAT_SCHEDULE = {
    "deliver-outbox": {"task": "line_messaging.deliver_outbox", "schedule": 30.0},
    "run-message-jobs": {"task": "broadcasts.run_message_jobs", "schedule": 60.0},
    "rollup-stats": {"task": "analytics.rollup_stats", "schedule": 300.0},
}
# Our share of LINE's multicast limit (200 requests/s per channel), shared by all workers.
LINE_MULTICAST_PER_SECOND = env_int("LINE_MULTICAST_PER_SECOND", 100)
# Points awarded once per member, ever, for linking LINE.
LINE_LINK_BONUS_POINTS = env_int("LINE_LINK_BONUS_POINTS", 200)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
