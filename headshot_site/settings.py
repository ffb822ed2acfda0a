"""Settings, read from the environment.

Development needs no variable at all: SQLite, the ORM broker, private local storage,
mail to the console. With DEBUG off, the secrets below are required and the process
refuses to start without them.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=True)

# How many reverse proxies of ours stand in front of the app, each appending the
# address it saw to X-Forwarded-For. 0: the client is REMOTE_ADDR and the header is
# ignored. Throttles, allauth's login limits and X-Forwarded-Proto all follow it, so
# an address a client writes into a header never counts.
TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")

# Development-only fallbacks: each is unusable in production and refused there.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
_DEV_PHOTO_KEY = "ZGV2LW9ubHktcGhvdG8ta2V5LW5vdC1mb3ItcHJvZC0="  # base64 of 32 bytes

SECRET_KEY = env("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
PHOTO_ENCRYPTION_KEYS = env_list("PHOTO_ENCRYPTION_KEYS", _DEV_PHOTO_KEY if DEBUG else "")

if not DEBUG:
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", SECRET_KEY),
            ("ALLOWED_HOSTS", ALLOWED_HOSTS),
            ("PHOTO_ENCRYPTION_KEYS", PHOTO_ENCRYPTION_KEYS),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"Production settings (DEBUG off) need these environment variables: {', '.join(missing)}"
        )
    if SECRET_KEY == _DEV_SECRET_KEY or _DEV_PHOTO_KEY in PHOTO_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "The development SECRET_KEY or photo key cannot be used with DEBUG off."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
    "accounts",
    "billing",
    "generation",
    "gpu_worker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "headshot_site.middleware.PermissionsPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "headshot_site.middleware.StaffAdminMiddleware",
]

ROOT_URLCONF = "headshot_site.urls"
WSGI_APPLICATION = "headshot_site.wsgi.application"

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
                "headshot_site.context_processors.site",
                "billing.context_processors.offers",
            ],
        },
    },
]

# SQLite is the embedded default, shared by the web process, the worker and the
# scheduler: WAL, IMMEDIATE transactions and a busy timeout keep concurrent writers
# from failing with "database is locked".
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=int(env("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files are all local (no CDN); whitenoise serves them from the web process.
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Media is private: uploaded selfies and headshots are never served under a public
# MEDIA_URL; views stream them after an access check.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))


def s3_storage(bucket_name: str, *, region_name: str | None, endpoint_url: str | None) -> dict:
    """The S3 backend: private objects, never overwritten. Views stream them after the
    access check, so no object URL ever reaches a browser. Credentials come from boto3's
    usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance role).
    The S3 tests build their storage here too, against a moto server on loopback."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket_name,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            "region_name": region_name,
            "endpoint_url": endpoint_url,
        },
    }


AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = s3_storage(
        AWS_STORAGE_BUCKET_NAME,
        region_name=env("AWS_S3_REGION_NAME"),
        endpoint_url=env("AWS_S3_ENDPOINT_URL"),
    )
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Mail: console in development; EMAIL_URL (smtp://user:pass@host:587) or EMAIL_* otherwise.
_email_url = env("EMAIL_URL")
if _email_url:
    from urllib.parse import unquote, urlparse

    _parsed = urlparse(_email_url)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _parsed.hostname or "localhost"
    EMAIL_PORT = _parsed.port or 587
    EMAIL_HOST_USER = unquote(_parsed.username or "")
    EMAIL_HOST_PASSWORD = unquote(_parsed.password or "")
    EMAIL_USE_TLS = _parsed.scheme in {"smtp", "submission"} and EMAIL_PORT != 465
    EMAIL_USE_SSL = _parsed.scheme == "smtps" or EMAIL_PORT == 465
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    EMAIL_HOST = env("EMAIL_HOST", "localhost")
    EMAIL_PORT = int(env("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Headshot Studio <hello@headshots.localhost>")
# Emails go out from the task queue (accounts.emails): a failed send is retried after
# EMAIL_RETRY_SECONDS, doubling each time, until EMAIL_MAX_ATTEMPTS attempts were made.
EMAIL_MAX_ATTEMPTS = int(env("EMAIL_MAX_ATTEMPTS", "5"))
EMAIL_RETRY_SECONDS = int(env("EMAIL_RETRY_SECONDS", "60"))

# django-allauth: email is the login, verification mandatory.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Headshot Studio] "
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "landing"
# Login failures count per address and per account in the shared cache (CACHES), so
# the portal's lockout also holds for the API login and across web processes.
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Headshot Studio"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "core.json_input.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.BoundedLimitOffsetPagination",
    # Throttles key on the address TRUSTED_PROXY_COUNT proxies report (see above).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("THROTTLE_AUTH", "30/min"),
        "upload": env("THROTTLE_UPLOAD", "30/hour"),
        "order": env("THROTTLE_ORDER", "60/hour"),
        # Pages anyone may read without an account (the plans and their prices).
        "public": env("THROTTLE_PUBLIC", "120/min"),
    },
}
# Content-Security-Policy (django-csp) on every response: scripts and styles come from
# our own static files or carry the request's nonce; nothing may frame a page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # data: for the TOTP QR code allauth draws, blob: for the studio's selfie preview.
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Features no page uses are refused to every page and anything it embeds.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), "
    "bluetooth=(), midi=(), magnetometer=(), gyroscope=(), accelerometer=(), "
    "display-capture=(), browsing-topics=()"
)

SPECTACULAR_SETTINGS = {
    "TITLE": "Headshot Studio API",
    "DESCRIPTION": "Upload a selfie, order headshots in the styles you pick, download them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page loads Swagger UI from our own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# API personal access tokens: django-rest-knox stores their SHA-512 digests only.
KNOX_TOKEN_MODEL = "accounts.PersonalAccessToken"
# knox's own migrations would still make its unused AuthToken table (their CreateModel
# ignores the swap), which references users and blocks PostgreSQL's TRUNCATE in
# transactional tests. Without migrations, the swapped model gets no table at all.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    # They live until revoked (by hand, or by a password change or reset).
    "TOKEN_TTL": None,
    "AUTH_HEADER_PREFIX": "Token",
    # Makes a leaked token recognisable to secret scanners.
    "TOKEN_PREFIX": "hs_",
}

# django-q2: the ORM broker by default, Redis when REDIS_URL is set. The GPU worker
# listens on its own queue so web-side housekeeping never waits behind generation.
REDIS_URL = env("REDIS_URL")
GPU_QUEUE_NAME = "gpu"
# Paid workspaces' orders (entitlements queue_priority 0) go on this broker list; the
# GPU worker polls it before GPU_QUEUE_NAME (see generation/queue.py).
GPU_PRIORITY_QUEUE_NAME = "gpu-priority"
# The task name in each GPU message; its only argument is the order id.
GPU_TASK_FUNC = "gpu_worker.tasks.generate_order"
# The task name of a face check message (always on the priority list); its only
# argument is the photo id.
GPU_PHOTO_CHECK_FUNC = "gpu_worker.tasks.check_photo"
# A running order whose worker has not sent a heartbeat for this long is taken over.
GPU_HEARTBEAT_TIMEOUT = int(env("GPU_HEARTBEAT_TIMEOUT", "120"))
# Starts (crashes included) after which an order fails instead of being requeued.
GPU_MAX_ATTEMPTS = 3
# A queued order not started this long after its message was sent is sent again
# (see generation.services.orders_recover_stale).
GPU_QUEUE_RESEND_AFTER = int(env("GPU_QUEUE_RESEND_AFTER", str(30 * 60)))
Q_CLUSTER = {
    "name": "default",
    "workers": int(env("Q_WORKERS", "2")),
    "timeout": 60 * 30,
    "retry": 60 * 31,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Throttle counters, login lockouts and used TOTP codes live here, so every web
# process must see the same cache: Redis, or else the database (its table is made by
# a migration, accounts/migrations/0003_database_cache_table.py).
DATABASE_CACHE_TABLE = "cache_entries"
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": DATABASE_CACHE_TABLE,
        }
    )
}

# Stripe: prices live in Stripe, plans in code (billing.plans).
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", "")
STRIPE_PRICE_PREMIUM = env("STRIPE_PRICE_PREMIUM", "")
STRIPE_PRICE_TEAM = env("STRIPE_PRICE_TEAM", "")
STRIPE_API_BASE = env("STRIPE_API_BASE")  # a Stripe-compatible test server, for tests and demos
# What pages show as a plan's price when Stripe is not configured: "19.00 USD month".
PRICE_DISPLAY_PREMIUM = env("PRICE_DISPLAY_PREMIUM", "")
PRICE_DISPLAY_TEAM = env("PRICE_DISPLAY_TEAM", "")
# How long a price read from Stripe is reused before asking again.
PRICE_CACHE_SECONDS = int(env("PRICE_CACHE_SECONDS", "3600"))
# A workspace whose renewal payment failed keeps its paid plan this long while Stripe retries.
BILLING_GRACE_DAYS = int(env("BILLING_GRACE_DAYS", "7"))

# The GPU worker's models.
HEADSHOT_MODEL_DIR = Path(env("HEADSHOT_MODEL_DIR", str(BASE_DIR / "var" / "models")))
HEADSHOT_MODELS = env("HEADSHOT_MODELS", "real")
if HEADSHOT_MODELS not in {"real", "tiny"}:
    raise ImproperlyConfigured("HEADSHOT_MODELS must be 'real' or 'tiny'.")
HEADSHOT_STEPS = int(env("HEADSHOT_STEPS", "30"))
# Outputs whose face matches the selfie less than this (cosine similarity) are made
# again with new seeds, up to HEADSHOT_LIKENESS_TRIES more times; 0 turns it off.
HEADSHOT_LIKENESS_THRESHOLD = float(env("HEADSHOT_LIKENESS_THRESHOLD", "0.35"))
HEADSHOT_LIKENESS_TRIES = int(env("HEADSHOT_LIKENESS_TRIES", "2"))
# An SDXL fine-tune in place of the base: a diffusers folder or one .safetensors file.
_base_checkpoint = env("HEADSHOT_BASE_CHECKPOINT")
HEADSHOT_BASE_CHECKPOINT = Path(_base_checkpoint).expanduser() if _base_checkpoint else None
# torch.compile the UNet, IdentityNet and upscaler (minutes at start, faster steps after).
HEADSHOT_COMPILE = env_bool("HEADSHOT_COMPILE", default=False)
# Where worker processes lock their ids, one file each: a local folder of the host.
HEADSHOT_WORKER_LOCK_DIR = Path(
    env("HEADSHOT_WORKER_LOCK_DIR", str(BASE_DIR / "var" / "run" / "gpu-workers"))
)

INVITATION_MAX_AGE_DAYS = 7
# Team workspaces on the free plan one person may own: each shares its owner's free
# allowance, so this only bounds clutter, never the free headshots.
FREE_TEAM_WORKSPACES_PER_PERSON = int(env("FREE_TEAM_WORKSPACES_PER_PERSON", "3"))
SITE_NAME = "Headshot Studio"
# Where `make run` (bin/run-studio) serves the portal.
HOST = env("HOST", "127.0.0.1")
PORT = env("PORT", "8000")
# Absolute links in emails sent outside a request (the worker, the scheduler): what
# `make run` serves, unless SITE_URL names the public address. A wildcard bind
# address is no place to send a person, so those links name loopback.
_link_host = "127.0.0.1" if HOST in {"0.0.0.0", "::", "[::]"} else HOST
if ":" in _link_host and not _link_host.startswith("["):
    _link_host = f"[{_link_host}]"
SITE_URL = env("SITE_URL", f"http://{_link_host}:{PORT}").rstrip("/")

# /metrics (headshot_site/metrics.py): readable with `Authorization: Bearer METRICS_TOKEN`,
# or without any Authorization header straight from these networks (not through a
# proxy). "none" turns the address rule off, leaving the token as the only way in.
METRICS_TOKEN = env("METRICS_TOKEN", "")
_metrics_networks = env(
    "METRICS_INTERNAL_NETWORKS",
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
)
try:
    METRICS_INTERNAL_NETWORKS = [
        ipaddress.ip_network(item.strip())
        for item in _metrics_networks.split(",")
        if item.strip() and _metrics_networks.strip().lower() != "none"
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_INTERNAL_NETWORKS: {error}") from None

# JSON lines for log collectors in production; plain lines for people in development.
LOG_FORMAT = env("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "headshot_site.logs.JsonFormatter"},
        "plain": {"()": "headshot_site.logs.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if TRUSTED_PROXY_COUNT > 0:
    # Only a proxy of ours can have set it; without one, any client could.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers and scrapers inside the network call these over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
