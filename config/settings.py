"""Handoff settings, read from the environment with django-environ.

DEBUG is off unless set: a deployment that forgets it runs as production, never in
development mode. Production needs SECRET_KEY, STRIPE_WEBHOOK_SECRET and HANDOFF_SITE_URL,
refuses to start without them or with a published development value, and turns on the
secure defaults that ``manage.py check --deploy`` asks for.

Development mode is DEBUG=True (``make run`` sets it; so do the test settings, and a ``.env``
file with ``DEBUG=True`` does for ``manage.py`` run by hand): the embedded default, with a
SQLite file, Celery tasks run eagerly in-process, a local-memory cache and e-mail printed to
the console. DATABASE_URL and REDIS_URL switch to PostgreSQL and to Redis as Celery broker
and cache. See the README for the full list.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# How to get development mode, for the messages that refuse to start without it.
_DEVELOPMENT_MODE = (
    "For development, turn on development mode: `make run` does, or put DEBUG=True in a .env "
    "file in the project folder (or in the environment) before running manage.py by hand."
)

# Secrets have no production default: the development values are published (in this file
# and the README), so they only exist in development mode and are refused outside it.
_DEV_SECRET_KEY = "django-insecure-handoff-embedded-default-do-not-use-in-production"  # noqa: S105
_DEV_WEBHOOK_SECRET = "whsec_handoff_local_development_only"  # noqa: S105


def _refuse_published(name: str, value: str, published: str) -> None:
    if not DEBUG and value == published:
        raise ImproperlyConfigured(
            f"{name} is the published development value, which anyone can read: production "
            f"(DEBUG off) refuses it. Set a long random value of your own. {_DEVELOPMENT_MODE}"
        )


SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production (DEBUG off, the default) needs a long random "
        "SECRET_KEY in the environment, for example: "
        'python -c "import secrets; print(secrets.token_urlsafe(64))". ' + _DEVELOPMENT_MODE
    )
_refuse_published("SECRET_KEY", SECRET_KEY, _DEV_SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "drf_spectacular_sidecar",
    "django_htmx",
    # Counts failed log-ins and locks out the guesser (accounts/bruteforce.py).
    "axes",
    "accounts",
    "billing",
    "usage",
    "pql",
    "metrics",
    "notifications",
    "outbound",
]

MIDDLEWARE = [
    # First: answers /healthz before anything checks the Host (load balancers probe by IP).
    "config.health.HealthzMiddleware",
    # Every error on the API and the webhook answers JSON.
    "config.errors.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The content security policy (SECURE_CSP below) on every answer.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Refuses oversized bodies (413), unknown media types (415) and form posts that are not
    # UTF-8 (400) before the CSRF check or any view reads them.
    "config.request_body.RequestBodyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Keeps the first visit's UTM parameters and referrer in a signed cookie for sign-up.
    "accounts.signup_source.FirstVisitSourceMiddleware",
    # Last: turns a locked-out log-in into the page that explains it (accounts/bruteforce.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# Database: a SQLite file by default, PostgreSQL through DATABASE_URL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if not DEBUG else 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serving concurrent requests (the embedded default): readers never block the
    # writer (WAL); a transaction takes the write lock when it begins (IMMEDIATE), so two
    # cannot deadlock upgrading read locks; and a writer waits its turn up to 20 s instead of
    # failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    } | DATABASES["default"].get("OPTIONS", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker and cache when REDIS_URL is set; otherwise in-process.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "handoff",
            # Keys carry the cache's epoch: nothing cached before a Redis outage is trusted
            # after it (an invalidation may have been lost meanwhile).
            "KEY_FUNCTION": "accounts.cache.epoch_key",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery (config/celery_app.py reads every CELERY_* setting).
# Without Redis, tasks run eagerly: the in-process memory transport, named with a host so
# kombu does not warn that one is missing.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request queues its tasks after its commit; with the broker down that fails within about a
# second (what it stored stays pending for the periodic jobs to queue again) instead of
# holding the request while kombu retries: a short connect timeout and one retry.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TIMEZONE = "UTC"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The log-in lock-out watches every log-in over HTTP before the model backend checks it.
AUTHENTICATION_BACKENDS = [
    "accounts.bruteforce.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic gathers the files that whitenoise serves.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Whitenoise serves collected static files from the app itself; no CDN, no web server needed.
# In production file names carry a hash of their content (css/handoff.1a2b3c4d5e6f.css), so
# browsers keep them for a year and still see every change; the manifest of those names is
# written by collectstatic. While DEBUG is on (runserver, the test suite) files keep their
# own names and nothing needs collecting.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
if not DEBUG:  # runserver serves static files itself while DEBUG is on
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

# E-mail: printed to the console unless EMAIL_URL is set (smtp+tls://user:pass@host:587).
_email = env.email_url("EMAIL_URL", default="consolemail://")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
    "timeout": 10,
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": (
            {key: value for key, value in _smtp_options.items() if value not in (None, "")}
            if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Handoff <no-reply@handoff.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Billing takes payments through Stripe when STRIPE_SECRET_KEY is set.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# Offline demo billing, no real money: without a Stripe key, the offline gateway plays
# Stripe's part (test cards, simulated payments). On by default only while DEBUG is on (the
# embedded default); in production only for a demo installation that sets it explicitly,
# and every page then says payments are simulated. With neither, billing is not configured:
# purchases are refused and `manage.py check` says so (billing.W001).
HANDOFF_DEMO_BILLING = env.bool("HANDOFF_DEMO_BILLING", default=DEBUG)
# The webhook endpoint accepts only events signed with this secret. The documented
# development value exists only while DEBUG is on (the embedded default, where the offline
# gateway signs with it): a published secret would let anyone forge billing events.
STRIPE_WEBHOOK_SECRET = env.str(
    "STRIPE_WEBHOOK_SECRET",
    default=_DEV_WEBHOOK_SECRET if DEBUG and not STRIPE_SECRET_KEY else "",
)
if not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "STRIPE_WEBHOOK_SECRET is not set. With Stripe, copy the webhook endpoint's signing "
        "secret (whsec_…) from the Stripe dashboard; with offline demo billing in production "
        "(HANDOFF_DEMO_BILLING=True), set a long random value of your own."
    )
_refuse_published("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET, _DEV_WEBHOOK_SECRET)
# Reconciliation with Stripe (billing.stripe.reconcile): requests a second at most (Stripe
# allows about 100 in live mode, 25 in test mode; webhooks' fetches need the rest), pages of
# 100 objects one Celery task works through before queueing the next chunk, and how long a
# chunk may hold the run before another worker takes it over (one that died).
HANDOFF_STRIPE_RECONCILE_RATE = env.float("HANDOFF_STRIPE_RECONCILE_RATE", default=25.0)
HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK = env.int(
    "HANDOFF_STRIPE_RECONCILE_PAGES_PER_TASK", default=20
)
HANDOFF_STRIPE_RECONCILE_LEASE_SECONDS = env.int(
    "HANDOFF_STRIPE_RECONCILE_LEASE_SECONDS", default=600
)
# Tests point the Stripe client at a fake Stripe on 127.0.0.1 (HTTP-level interception).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "accounts.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handoff API",
    "DESCRIPTION": (
        "The API of a Handoff installation for workspace API keys: metered usage, product "
        "events, entitlements (plan, limits, usage, features) and the key's workspace; and "
        "for sales staff in a browser session (with its CSRF token in X-CSRFToken), the "
        "leads of the sales queue and the actions on them."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "usage.api.schema.examples_happen_now",
    ],
    # Without deep links each operation's summary is one button, not a button holding a link
    # (nested interactive controls that screen readers cannot reach).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "ENUM_NAME_OVERRIDES": {
        "EventStatusEnum": "usage.api.views.EVENT_STATUSES",
        "LimitStatusEnum": "usage.api.views.LIMIT_STATUSES",
        "LeadStatusEnum": "pql.api.serializers.LEAD_STATUSES",
        "LeadMoveStatusEnum": "pql.api.serializers.MOVE_STATUSES",
        "QueueStatusEnum": "pql.selectors.STATUS_CHOICES",
    },
}

# Handoff's own knobs.
# Where people reach this installation; used in links sent by e-mail. Every process builds
# them from its own environment (invitations are sent by the Celery worker), so production
# states it rather than falling back to the development server's address.
HANDOFF_SITE_URL = env.str("HANDOFF_SITE_URL", default="http://127.0.0.1:8000" if DEBUG else "")
if not HANDOFF_SITE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        "HANDOFF_SITE_URL "
        + (f"is not an http(s) URL: {HANDOFF_SITE_URL!r}. " if HANDOFF_SITE_URL else "is not set. ")
        + "Production (DEBUG off) needs the address people reach this installation at, for "
        "example HANDOFF_SITE_URL=https://handoff.example.com, in the environment of every "
        "process: links in e-mails are built from it, by the web and the Celery worker "
        "processes alike. " + ("" if DEBUG else _DEVELOPMENT_MODE)
    )
HANDOFF_INVITATION_TTL_DAYS = env.int("HANDOFF_INVITATION_TTL_DAYS", default=7)
# Where "contact sales" links go (private plans such as Enterprise).
HANDOFF_SALES_EMAIL = env.str("HANDOFF_SALES_EMAIL", default="sales@handoff.localhost")
# Requests per minute one workspace API key may make (429 with Retry-After beyond).
HANDOFF_API_RATE_PER_MINUTE = env.int("HANDOFF_API_RATE_PER_MINUTE", default=1200)
# The largest request body the ingestion API reads (1,000 events fit in well under 1 MiB).
HANDOFF_API_MAX_BODY_BYTES = env.int("HANDOFF_API_MAX_BODY_BYTES", default=1024 * 1024)
# Stripe events whose queue message was lost (the broker down when the webhook stored them)
# are queued again this many seconds after they arrived; beat looks for them as often.
HANDOFF_STRIPE_REQUEUE_SECONDS = env.int("HANDOFF_STRIPE_REQUEUE_SECONDS", default=60)
# Brute force. How many reverse proxies stand in front of the web processes (each appends to
# X-Forwarded-For): the client's address, which the limits below count by, is that many
# entries from the end. 0 (no proxy): X-Forwarded-For is ignored, anyone could write it.
HANDOFF_PROXY_COUNT = env.int("HANDOFF_PROXY_COUNT", default=0)
# Wrong passwords for one e-mail address from one client address before log-in for that pair
# pauses, and for how long (the site's log-in and the admin's).
HANDOFF_LOGIN_FAILURE_LIMIT = env.int("HANDOFF_LOGIN_FAILURE_LIMIT", default=5)
HANDOFF_LOGIN_COOLOFF_MINUTES = env.int("HANDOFF_LOGIN_COOLOFF_MINUTES", default=15)
# Failed API key authentications one client address may make in a minute (429 beyond).
HANDOFF_API_KEY_FAILURES_PER_MINUTE = env.int("HANDOFF_API_KEY_FAILURES_PER_MINUTE", default=20)
# django-axes, configured from the settings above (accounts/bruteforce.py).
AXES_FAILURE_LIMIT = "accounts.bruteforce.login_failure_limit"
AXES_COOLOFF_TIME = "accounts.bruteforce.login_cooloff"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.bruteforce.login_username"
AXES_CLIENT_IP_CALLABLE = "accounts.ratelimit.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.bruteforce.login_locked_out"
AXES_RESET_ON_SUCCESS = True
# The pause runs from the failure that started it: attempts during it do not extend it, so
# the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Successful log-ins are not recorded a second time (the audit log has what matters).
AXES_DISABLE_ACCESS_LOG = True
# The largest form post a page reads (Django's own default; no form takes files): a larger
# one is answered 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("HANDOFF_FORM_MAX_BODY_BYTES", default=2_621_440)
# PQL score history: every day's snapshot is kept this many days, one a week beyond, and
# nothing older than HANDOFF_PQL_HISTORY_DAYS.
HANDOFF_PQL_HISTORY_DAILY_DAYS = env.int("HANDOFF_PQL_HISTORY_DAILY_DAYS", default=90)
HANDOFF_PQL_HISTORY_DAYS = env.int("HANDOFF_PQL_HISTORY_DAYS", default=365)
# The scoring job: how many workspaces one chunk (one task, one transaction) scores. How
# often beat runs it is HANDOFF_PQL_SCORING_EVERY_MINUTES, read by config/celery_app.py.
# 10,000: a chunk's worker peaks near 130 MiB (5,000: 110; 20,000: 170), the per-chunk
# overhead is small, and 100,000 workspaces still make ten chunks to share among workers.
HANDOFF_PQL_CHUNK_SIZE = env.int("HANDOFF_PQL_CHUNK_SIZE", default=10000)

# LOG_FORMAT=json writes one JSON object a line (config/log_format.py), for log collectors.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT is {LOG_FORMAT!r}: set it to plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.log_format.JsonFormatter"},
    },
    # Secrets (API keys, webhook secrets, link tokens) never reach a log line.
    "filters": {"redact_secrets": {"()": "config.log_redaction.RedactSecrets"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own loggers print through the root handler only (no duplicate lines).
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
# django-axes announces its configuration at every start; its warnings (a failed log-in,
# a lock-out) still show.
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}
if CELERY_TASK_ALWAYS_EAGER:
    # Tasks run in-process: a line for every task that ran (thousands while seeding the demo)
    # says nothing a worker's log would; failures are still logged.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}

# The content security policy: scripts, styles, images, fonts and requests only from this
# site; no inline script (pages load theirs from static/js/), no plugins, no framing. Inline
# styles are allowed: the API docs page (Swagger UI) and htmx's request indicator set them.
# Enforced in production; in development mode browsers report what it would block (console
# messages) without blocking it, so Django's debug pages keep their inline script.
_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CSP = {} if DEBUG else _CSP
SECURE_CSP_REPORT_ONLY = _CSP if DEBUG else {}

# Production: everything `manage.py check --deploy` asks for, behind a TLS-terminating proxy.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
