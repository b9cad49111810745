"""Vernissage settings: one file, every value from config.env.

Development (`make run`) works with no environment at all: SQLite in ./var, Redis on localhost, a
generated secret key kept in ./var. `VERNISSAGE_PRODUCTION=1` turns on production mode, which
refuses to start without a real secret key, allowed hosts and a database URL, and enables the HTTPS
settings that `manage.py check --deploy` asks for.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_float,
    env_int,
    env_json,
    env_list,
    env_path,
    env_str,
    redis_db,
)
from config.logs import FORMATS, logging_settings
from config.sentry import sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("VERNISSAGE_DATA_DIR", BASE_DIR / "var")
PRODUCTION = env_bool("VERNISSAGE_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)

if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when VERNISSAGE_PRODUCTION=1")


def _development_secret_key() -> str:
    """A random key generated once and kept, so sessions survive restarts of `make run`."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if PRODUCTION:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
    # The same bar as Django's security.W009 check, enforced at start-up instead of warned about.
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to at least 50 random characters")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the public host names")
    if not env_str("DATABASE_URL", ""):
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production")
else:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or _development_secret_key()
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])


def _served_address() -> str:
    """Where `make run` serves (the Procfile's VERNISSAGE_HOST and VERNISSAGE_PORT): links in
    invitations, staff messages and emails point there unless VERNISSAGE_SITE_URL says otherwise.
    A wildcard bind address is not something a browser can open, so it reads as loopback."""
    host = env_str("VERNISSAGE_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 (compared, not bound)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{env_int('VERNISSAGE_PORT', 8000, minimum=1)}"


SITE_URL = env_str("VERNISSAGE_SITE_URL", "").rstrip("/") or _served_address()
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "access",
    "realtime",
    "generation",
    "review",
    "containment",
    "ops",
    "fairness",
    "provenance",
    "webhooks",
]

MIDDLEWARE = [
    # First: every log line of the request (and its response header) carries its id.
    "access.middleware.RequestIdMiddleware",
    # Every error under /api/ leaves as RFC 9457 problem details, whichever layer answered it.
    "access.api.problems.ApiProblemMiddleware",
    "ops.middleware.HttpMetricsMiddleware",
    "access.middleware.NulByteMiddleware",
    # Outermost handler of exceptions: PostgreSQL or Redis away is a 503 naming it, not a 500.
    "access.middleware.OutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the ASGI app itself (from the source folders while DEBUG is on).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "access.middleware.StandingMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
_SQLITE_PATH = DATA_DIR / "vernissage.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{_SQLITE_PATH}"), conn_max_age=0
    )
}
# PostgreSQL in the web server: a connection pool per process (Django 5.2 + psycopg_pool) instead
# of a new connection per request (4-9 ms each here, against well under 1 ms for a query on an open
# one). Not persistent connections (CONN_MAX_AGE): Django's ASGI handler runs each request's sync
# code in a thread of its own (one asgiref ThreadSensitiveContext per request) and connections are
# per thread, so a persistent connection would be opened anew by every request's thread and left
# open behind it; Django's docs advise pooling under ASGI. A pooled connection goes back to the
# pool on close(), whichever thread used it. On by default only in the ASGI server (config/asgi.py):
# the worker and the dispatcher work on one thread between long pauses, and a pool caps the
# connections a process may hold at once, which threaded code (tests) must not meet. Health checks
# make the pool hand out only a live connection after a PostgreSQL restart; the short wait turns an
# outage (or an overload past max_size requests at once) into a prompt 503, not a 30 s stall.
DB_POOL = env_bool("VERNISSAGE_DB_POOL", False)
if DB_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool = {
        # Concurrent requests of one process each hold one while their view runs.
        "min_size": env_int("VERNISSAGE_DB_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env_int("VERNISSAGE_DB_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_float("VERNISSAGE_DB_POOL_TIMEOUT", 5.0, minimum=0.1),
    }
    if _pool["min_size"] > _pool["max_size"]:
        raise ImproperlyConfigured(
            f"VERNISSAGE_DB_POOL_MIN_SIZE={_pool['min_size']} is above "
            f"VERNISSAGE_DB_POOL_MAX_SIZE={_pool['max_size']}"
        )
# Every other process (the worker, the dispatcher, commands) keeps its connections: a job opened
# one for its task, one for its heartbeat and one per webhook receiver, and the dispatcher one per
# tick (every 2 s). Django closes one past CONN_MAX_AGE seconds, or found broken by the health
# check at the start of a task, an encode or a tick (`close_old_connections`). Celery's Django
# fixup would close every connection before and after every task whatever CONN_MAX_AGE says,
# unless CELERY_DB_REUSE_MAX (tasks between such closes) is set: set high, CONN_MAX_AGE decides.
DB_CONN_MAX_AGE = env_int("VERNISSAGE_DB_CONN_MAX_AGE", 300, minimum=0)
if not DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = DB_CONN_MAX_AGE
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CELERY_DB_REUSE_MAX = 1_000_000
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE makes a write transaction
    # take its lock up front, so select_for_update-style code cannot deadlock on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file (not :memory:) so a worker or server process started by a test sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# One Redis serves all three by default; past one machine each can have its own (issue #14):
# the broker wants persistence, the cache eviction, the channel layer low latency.
CACHE_URL = env_str("VERNISSAGE_CACHE_URL", REDIS_URL)
CHANNELS_URL = env_str("VERNISSAGE_CHANNELS_URL", REDIS_URL)
BROKER_URL = env_str("VERNISSAGE_BROKER_URL", env_str("CELERY_BROKER_URL", REDIS_URL))

CACHES = {
    "default": {
        "BACKEND": "access.cache.RedisCache",  # one pool per process (access/cache.py)
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": env_str("VERNISSAGE_CACHE_PREFIX", "vernissage"),
    }
}

CHANNEL_PREFIX = env_str("VERNISSAGE_CHANNEL_PREFIX", "vernissage")
CHANNEL_LAYERS = {
    "default": {
        # Redis pub/sub, fanned out inside each process (realtime/layers.py says why and what it
        # keeps: per-socket capacity, sockets closed and reconnected across a Redis outage).
        "BACKEND": "realtime.layers.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": CHANNELS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
            # Pub/sub channels are global to a Redis server, whatever database the URL names:
            # the database goes into the prefix, so deployments (and test workers) that share a
            # server on different databases stay apart, as they did with the keyed layer.
            "prefix": f"{CHANNEL_PREFIX}.db{redis_db(CHANNELS_URL)}.",
            # Messages waiting for one socket; past it they are dropped (a burst of progress
            # events fits).
            "capacity": 500,
        },
    }
}

# --- Celery (transport only: the database holds the truth about jobs) ---------------------------
JOB_SOFT_TIME_LIMIT = env_int("VERNISSAGE_JOB_SOFT_TIME_LIMIT", 30 * 60, minimum=10)
JOB_HARD_TIME_LIMIT = JOB_SOFT_TIME_LIMIT + 60
JOB_MAX_ATTEMPTS = env_int("VERNISSAGE_JOB_MAX_ATTEMPTS", 3, minimum=1)
# A running job's worker beats every JOB_HEARTBEAT_SECONDS (loading, denoising, decoding,
# encoding); a run silent for JOB_STALL_SECONDS has lost its worker and is requeued.
JOB_HEARTBEAT_SECONDS = env_int("VERNISSAGE_JOB_HEARTBEAT_SECONDS", 5, minimum=1)
JOB_STALL_SECONDS = env_int("VERNISSAGE_JOB_STALL_SECONDS", 20, minimum=JOB_HEARTBEAT_SECONDS * 3)
# A finished render waits out a database outage this long before it gives up its finalize.
JOB_FINALIZE_WAIT_SECONDS = env_int("VERNISSAGE_JOB_FINALIZE_WAIT_SECONDS", 60, minimum=0)
# A dispatched job whose message is in neither the broker's queue nor a worker's unacked set for
# this long was never sent or was lost (a crash between commit and send, a Redis restart): it is
# dispatched again. Dispatch ids make the rare duplicate harmless.
JOB_MESSAGE_GRACE_SECONDS = env_int("VERNISSAGE_JOB_MESSAGE_GRACE_SECONDS", 10, minimum=1)
# The last resort when the broker cannot be inspected: a dispatched job may wait in a worker's
# prefetch buffer for a whole job; past that, it is presumed lost.
JOB_DISPATCH_TIMEOUT_SECONDS = env_int(
    "VERNISSAGE_JOB_DISPATCH_TIMEOUT_SECONDS", JOB_HARD_TIME_LIMIT + 300, minimum=1
)
JOB_QUEUE_TTL_MINUTES = env_int("VERNISSAGE_JOB_QUEUE_TTL_MINUTES", 0, minimum=0)  # 0: no TTL
DISPATCH_TICK_SECONDS = env_int("VERNISSAGE_DISPATCH_TICK_SECONDS", 2, minimum=1)
QUEUE_POSITION_PUBLISH_LIMIT = 50
# After wake-ups that dispatched nothing (a burst of submissions), the dispatcher sends waiting
# testers' positions at most this often; the last change always goes out.
QUEUE_POSITIONS_MIN_INTERVAL_S = env_float(
    "VERNISSAGE_QUEUE_POSITIONS_MIN_INTERVAL_S", 0.5, minimum=0
)
# Fair turns count each tester's jobs dispatched within this window.
FAIR_SHARE_WINDOW = timedelta(
    minutes=env_int("VERNISSAGE_FAIR_SHARE_WINDOW_MINUTES", 60, minimum=1)
)

CELERY_BROKER_URL = BROKER_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = JOB_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = JOB_HARD_TIME_LIMIT
# Above the hard limit, or Redis hands a still-running job to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": JOB_HARD_TIME_LIMIT + 300}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Models (the registry; see generation/registry.py) --------------------------------------------
MODELS_DIR = env_path("VERNISSAGE_MODELS_DIR", DATA_DIR / "models")
DEMO_MODEL_PATH = MODELS_DIR / "demo-wan-tiny"
VERNISSAGE_MODELS = env_json(
    "VERNISSAGE_MODELS",
    [
        {
            "name": "demo",
            "label": "Demo model (tiny, random weights: its output is noise)",
            "source": str(DEMO_MODEL_PATH),
            "demo": True,
            "dtype": "float32",
            "device": "cpu",
            "fps": 8,
            "defaults": {"num_frames": 9, "width": 64, "height": 64, "steps": 4, "guidance": 5.0},
            "limits": {
                "num_frames": 17,
                "width": 128,
                "height": 128,
                "steps": 12,
                "guidance": 20.0,
            },
        }
    ],
)
PROGRESS_MIN_INTERVAL_S = 0.1
# Sockets re-check their user's standing this often, in case an "access ended" message was lost.
SOCKET_RECHECK_SECONDS = env_int("VERNISSAGE_SOCKET_RECHECK_SECONDS", 10, minimum=1)
# A small preview of the video every this many denoising steps (0: none), to owner and reviewers.
PREVIEW_EVERY_STEPS = env_int("VERNISSAGE_PREVIEW_EVERY", 5, minimum=0)

# --- Provenance: invisible marks in every output (generation/marking) ----------------------------
# The key that marks new outputs, and its version (stored per output, so keys can rotate: list the
# retired ones in VERNISSAGE_WATERMARK_RETIRED_KEYS as {"1": "old key", ...} to keep tracing them).
# Development derives it from the secret key; production must set it (rotating the secret key
# must not orphan every mark ever made).
WATERMARK_ALGORITHM = env_str("VERNISSAGE_WATERMARK_ALGORITHM", "keyed-tile-v2")
WATERMARK_KEY_VERSION = env_int("VERNISSAGE_WATERMARK_KEY_VERSION", 1, minimum=1)
WATERMARK_KEY = env_str("VERNISSAGE_WATERMARK_KEY", "")
if PRODUCTION and len(WATERMARK_KEY) < 32:
    raise ImproperlyConfigured("VERNISSAGE_WATERMARK_KEY must be set to at least 32 characters")
WATERMARK_KEY = WATERMARK_KEY or f"watermark:{SECRET_KEY}"
WATERMARK_RETIRED_KEYS = {
    int(version): str(key)
    for version, key in env_json("VERNISSAGE_WATERMARK_RETIRED_KEYS", {}).items()
}
# C2PA content credentials on delivered MP4s. Production: the deployment's certificate chain and
# key (PEM). Development: a CA and signer made once under DATA_DIR/c2pa (`make run` does it).
C2PA_DIR = DATA_DIR / "c2pa"
C2PA_CERT_PATH = env_path("VERNISSAGE_C2PA_CERT", C2PA_DIR / "signer-chain.pem")
C2PA_KEY_PATH = env_path("VERNISSAGE_C2PA_KEY", C2PA_DIR / "signer-key.pem")
C2PA_GENERATOR = env_str("VERNISSAGE_C2PA_GENERATOR", "Vernissage")
# Suspect files a trace accepts (uploads and `manage.py trace`).
TRACE_MAX_UPLOAD_BYTES = env_int("VERNISSAGE_TRACE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
TRACE_QUEUE = "cpu"
# Each trace first fingerprints up to this many outputs that have none yet.
TRACE_INDEX_BATCH = env_int("VERNISSAGE_TRACE_INDEX_BATCH", 500, minimum=0)

# --- Webhooks (webhooks/) ------------------------------------------------------------------------
# Deliveries go to the CPU worker process (the `tracer` in the Procfile), on their own queue.
WEBHOOK_QUEUE = "hooks"
# Targets on private, loopback, link-local, multicast or reserved addresses are refused, at
# registration and again at every send (a name may resolve elsewhere later), unless named here:
# host names (exact, lower case) or networks in CIDR notation (`10.0.0.0/8`, `::1/128`).
WEBHOOK_ALLOWED_HOSTS = [host.lower() for host in env_list("VERNISSAGE_WEBHOOK_ALLOWED_HOSTS", [])]
WEBHOOK_ALLOWED_CIDRS = env_list("VERNISSAGE_WEBHOOK_ALLOWED_CIDRS", [])
for _cidr in WEBHOOK_ALLOWED_CIDRS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        message = f"VERNISSAGE_WEBHOOK_ALLOWED_CIDRS: {_cidr!r} is not a network"
        raise ImproperlyConfigured(message) from None
WEBHOOK_TIMEOUT_SECONDS = env_float("VERNISSAGE_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
WEBHOOK_MAX_ATTEMPTS = env_int("VERNISSAGE_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
# Attempt n waits about BASE * 4**(n-1) seconds (with jitter) after attempt n-1, at most MAX: it
# stays under the broker's visibility timeout, past which Redis would hand the message out twice.
WEBHOOK_RETRY_BASE_SECONDS = env_float("VERNISSAGE_WEBHOOK_RETRY_BASE_SECONDS", 10.0, minimum=0.0)
WEBHOOK_RETRY_MAX_SECONDS = env_float("VERNISSAGE_WEBHOOK_RETRY_MAX_SECONDS", 1800.0, minimum=0.0)
WEBHOOK_MAX_ENDPOINTS = env_int("VERNISSAGE_WEBHOOK_MAX_ENDPOINTS", 10, minimum=1)
# Encrypts endpoint secrets at rest; derived from SECRET_KEY unless set (rotating it orphans them).
WEBHOOK_SECRET_KEY = env_str("VERNISSAGE_WEBHOOK_SECRET_KEY", "") or f"webhooks:{SECRET_KEY}"

# --- Review ---------------------------------------------------------------------------------------
# An appeal of a rejection is decided within this many hours, by a reviewer other than the decider.
APPEAL_SLA_HOURS = env_int("VERNISSAGE_APPEAL_SLA_HOURS", 72, minimum=1)
REVIEW_CLAIM_MINUTES = env_int("VERNISSAGE_REVIEW_CLAIM_MINUTES", 5, minimum=1)
REVIEW_SLA_HOURS = env_int("VERNISSAGE_REVIEW_SLA_HOURS", 24, minimum=1)
# A reviewer may take their own decision back for this many seconds (the queue's Undo).
REVIEW_UNDO_SECONDS = env_int("VERNISSAGE_REVIEW_UNDO_SECONDS", 10, minimum=1)
REVIEW_REJECT_REASONS = env_list(
    "VERNISSAGE_REVIEW_REJECT_REASONS",
    [
        "Real person's likeness",
        "Sexual content",
        "Violence or gore",
        "Hate or harassment",
        "Copyrighted material",
        "Reveals confidential model behaviour",
        "Other (see note)",
    ],
)

# --- Files ----------------------------------------------------------------------------------------
# Outputs live outside any public folder and are only served through permission-checking views.
# VERNISSAGE_STORAGE picks where: "local" (a folder, the default) or "s3" (any S3-compatible
# object store, through django-storages; every host then shares it, no shared disk needed).
OUTPUTS_DIR = env_path("VERNISSAGE_OUTPUTS_DIR", DATA_DIR / "outputs")
OUTPUTS_STORAGE = env_str("VERNISSAGE_STORAGE", "local")
# How long a presigned S3 URL (or a page that embeds one) lets a browser fetch a file.
MEDIA_URL_TTL_SECONDS = env_int("VERNISSAGE_MEDIA_URL_TTL_SECONDS", 600, minimum=10)
# Local storage behind a proxy: answer media with `X-Accel-Redirect: <prefix><name>` and let the
# proxy send the file (README, Storage: the Caddy and nginx side). Empty: Python sends.
MEDIA_ACCEL_REDIRECT_PREFIX = env_str("VERNISSAGE_MEDIA_ACCEL_REDIRECT_PREFIX", "")
if MEDIA_ACCEL_REDIRECT_PREFIX and not (
    MEDIA_ACCEL_REDIRECT_PREFIX.startswith("/") and MEDIA_ACCEL_REDIRECT_PREFIX.endswith("/")
):
    raise ImproperlyConfigured("VERNISSAGE_MEDIA_ACCEL_REDIRECT_PREFIX must start and end with /")


def s3_storage_options() -> dict[str, Any]:
    """django-storages' S3Storage options from the environment (the tests build theirs here too)."""
    return {
        "bucket_name": env_str("VERNISSAGE_S3_BUCKET", ""),
        "location": env_str("VERNISSAGE_S3_PREFIX", ""),  # a folder inside the bucket
        "endpoint_url": env_str("VERNISSAGE_S3_ENDPOINT_URL", "") or None,  # None: AWS itself
        "region_name": env_str("VERNISSAGE_S3_REGION", "") or None,
        # Unset: boto3's own chain (instance role, AWS_* variables, ~/.aws).
        "access_key": env_str("VERNISSAGE_S3_ACCESS_KEY_ID", "") or None,
        "secret_key": env_str("VERNISSAGE_S3_SECRET_ACCESS_KEY", "") or None,
        "addressing_style": env_str("VERNISSAGE_S3_ADDRESSING_STYLE", "") or None,
        "signature_version": "s3v4",
        "default_acl": None,  # private objects: only presigned URLs read them
        "querystring_auth": True,
        "querystring_expire": MEDIA_URL_TTL_SECONDS,
        "file_overwrite": False,  # as on a disk: a name is never written twice
    }


_OUTPUTS_BACKENDS: dict[str, dict[str, Any]] = {
    "local": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(OUTPUTS_DIR), "base_url": None},
    },
    "s3": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options()},
}
if OUTPUTS_STORAGE not in _OUTPUTS_BACKENDS:
    raise ImproperlyConfigured(f"VERNISSAGE_STORAGE={OUTPUTS_STORAGE!r} is not one of local, s3")
if OUTPUTS_STORAGE == "s3" and not _OUTPUTS_BACKENDS["s3"]["OPTIONS"]["bucket_name"]:
    raise ImproperlyConfigured("VERNISSAGE_STORAGE=s3 needs VERNISSAGE_S3_BUCKET")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "outputs": _OUTPUTS_BACKENDS[OUTPUTS_STORAGE],
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Built into the image by collectstatic (production settings), not kept on the data volume where
# it would go stale. In development WhiteNoise serves straight from the source folders.
STATIC_ROOT = env_path("VERNISSAGE_STATIC_ROOT", BASE_DIR / "staticfiles") if PRODUCTION else None
MEDIA_ROOT = DATA_DIR / "uploads"

# --- Accounts -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "access.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "studio"
ACCOUNT_ADAPTER = "access.adapters.InvitationAccountAdapter"
ACCOUNT_FORMS = {"signup": "fairness.forms.ArtistSignupForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_DISPLAY = "access.models.user_display"
# The invitation link was delivered to that address: opening it proves the address.
ACCOUNT_EMAIL_VERIFICATION = "none"
# Password reset answers the same for registered and unknown addresses (no account enumeration).
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_GET = False
# allauth's default login/signup/reset rate limits stay on; they count in the Redis cache.
# Behind the docker deployment's proxy (one hop) set VERNISSAGE_TRUSTED_PROXY_COUNT=1 so the
# client's address, not the proxy's, is what limits and the audit log see.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("VERNISSAGE_TRUSTED_PROXY_COUNT", 0, minimum=0)
MFA_ADAPTER = "access.adapters.EncryptingMFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Vernissage"
# Key for MFA secrets at rest; derived from SECRET_KEY unless set (rotating it needs re-enrolment).
MFA_ENCRYPTION_KEY = env_str("VERNISSAGE_MFA_ENCRYPTION_KEY", "")
# HMAC key for API token digests; derived from SECRET_KEY unless set.
API_TOKEN_PEPPER = env_str("VERNISSAGE_API_TOKEN_PEPPER", "") or f"api-token:{SECRET_KEY}"
# A token used from more networks or clients than this within the window looks like a public
# front-end on someone's access: it is suspended automatically.
TOKEN_SHARING_WINDOW_SECONDS = env_int("VERNISSAGE_TOKEN_SHARING_WINDOW_SECONDS", 600, minimum=60)
TOKEN_SHARING_MAX_NETWORKS = env_int("VERNISSAGE_TOKEN_SHARING_MAX_NETWORKS", 4, minimum=1)
TOKEN_SHARING_MAX_CLIENTS = env_int("VERNISSAGE_TOKEN_SHARING_MAX_CLIENTS", 4, minimum=1)
STAFF_MAX_CONCURRENT = env_int("VERNISSAGE_STAFF_MAX_CONCURRENT", 2, minimum=1)
INVITATION_TTL_DAYS = env_int("VERNISSAGE_INVITATION_TTL_DAYS", 14, minimum=1)
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "Vernissage <noreply@localhost>")

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.api.permissions.ActiveTesterWithScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's defaults, JSON bounded in depth; the serializers take exact JSON types.
    "DEFAULT_PARSER_CLASSES": [
        "access.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "access.api.pagination.BoundedCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "access.api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per token (or per signed-in user); views add stricter rates by method (`throttle_scopes`).
    "DEFAULT_THROTTLE_CLASSES": [
        "access.api.throttling.ApiRateThrottle",
        "access.api.throttling.MethodScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": env_json(
        "API_THROTTLE_RATES", {"api": "600/minute", "job_submit": "60/minute"}
    ),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Vernissage API",
    "DESCRIPTION": (
        "The closed alpha's text-to-video API. Authenticate with `Authorization: Bearer vern_…` "
        "(a personal token with scopes). Errors are RFC 9457 problem details "
        "(`application/problem+json`); lists are cursor-paged (`?limit=`, follow `next`)."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The contract is public to read; every operation in it still needs a token or a session.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set, where a set is used by several fields or its default name clashes.
    "ENUM_NAME_OVERRIDES": {
        "WebhookEventEnum": "webhooks.models.EventType",
        "WebhookDeliveryStateEnum": "webhooks.models.Delivery.State",
        "JobStateEnum": "generation.models.Job.State",
        "OutputStateEnum": "review.models.Output.State",
        "FindingStateEnum": "review.models.Finding.State",
    },
}

# --- Security -------------------------------------------------------------------------------------
# The largest form or API body we read (files uploaded in forms count apart): room for the bulk
# invitation box (1 MB); Django refuses more with a 400, for forms and the API alike.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the studio's JavaScript reads it for fetch() submissions
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logs and errors ------------------------------------------------------------------------------
# JSON lines in production (for a log shipper), human-readable lines under `make run`; every line
# carries the request, user, job and dispatch it belongs to (config/logs.py).
LOG_FORMAT = env_str("VERNISSAGE_LOG_FORMAT", "json" if PRODUCTION else "console")
if LOG_FORMAT not in FORMATS:
    raise ImproperlyConfigured(f"VERNISSAGE_LOG_FORMAT={LOG_FORMAT!r} is not one of {FORMATS}")
LOGGING = logging_settings(log_format=LOG_FORMAT, level=env_str("VERNISSAGE_LOG_LEVEL", "INFO"))

# Errors go to Sentry only when a DSN is set (web, dispatcher and worker alike).
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    sentry_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production" if PRODUCTION else "development"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )

# --- Operations: health and metrics (ops/) -------------------------------------------------------
# /metrics answers a request bearing this secret (`Authorization: Bearer …`), or one from these
# networks (the direct peer's address: scrape the web container directly, not through the proxy).
METRICS_BEARER_TOKEN = env_str("VERNISSAGE_METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list(
    "VERNISSAGE_METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"]
)
# Readiness asks the workers over the broker; an answer later than this counts as no worker.
HEALTH_WORKER_TIMEOUT_SECONDS = env_float("VERNISSAGE_HEALTH_WORKER_TIMEOUT", 1.0)
# ...and keeps their answer this long, so frequent probes do not each broadcast to every worker.
HEALTH_WORKER_CACHE_SECONDS = env_float("VERNISSAGE_HEALTH_WORKER_CACHE_SECONDS", 5.0)
# The dispatcher beats every tick; silent this long, it is taken for dead.
DISPATCHER_HEARTBEAT_STALE_SECONDS = env_int(
    "VERNISSAGE_DISPATCHER_HEARTBEAT_STALE_SECONDS", max(30, DISPATCH_TICK_SECONDS * 10), minimum=1
)
# A worker started with this port set serves its own metrics there (prometheus-client's
# multiprocess mode over PROMETHEUS_MULTIPROC_DIR, which the worker's children write to).
WORKER_METRICS_PORT = env_int("VERNISSAGE_WORKER_METRICS_PORT", 0, minimum=0)  # 0: off
