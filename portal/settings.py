"""Settings for the dealer portal, read from the environment (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import environ
import jinja2
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file is a convenience for development; real deployments set the environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set DJANGO_SECRET_KEY to a long random string "
            '(for example the output of: python -c "import secrets; '
            'print(secrets.token_urlsafe(50))"), or set DJANGO_DEBUG=true for local development.'
        )
    SECRET_KEY = "insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "bootstrap",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "simple_history",
    "django_q",
    "portal",
    "dealers",
    "stations",
    "customers",
    "signals",
    "media",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Tells whether the session passed a second factor; then ours sends those who have (or
    # must have) one to it before anything else (portal/middleware.py).
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
# Django's debug page, made safe for requests whose parameters cannot be parsed (portal/lib.py).
DEFAULT_EXCEPTION_REPORTER = "portal.lib.SafeExceptionReporter"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "dealers.context_processors.dealer",
                # One masked CSRF token per request, for every template of it (portal/csrf.py).
                "portal.csrf.csrf",
            ],
        },
    },
    {
        # Only for the operator's site page inside its layout, its verdict box and the
        # customer list's rows (templates/*/*.jinja, always asked for with using="jinja2"):
        # Jinja2 compiles a template to Python once, where Django's engine walks its nodes on
        # every render (docs/deep-links.md).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        # A name the view did not pass is a bug to fail on in tests, not an empty cell.
        "OPTIONS": {
            "undefined": jinja2.StrictUndefined,
            # Django's date, linebreaksbr and timesince filters (portal/jinja2.py).
            "environment": "portal.jinja2.environment",
            "context_processors": ["portal.csrf.csrf"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Default: an embedded SQLite file under var/ (git-ignored). Production: PostgreSQL, e.g.
# DATABASE_URL=postgres://portal:secret@db.internal:5432/portal
_default_sqlite = BASE_DIR / "var" / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{_default_sqlite}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # The web server and the dispatcher write at the same time (make run): taking the write
    # lock when a transaction begins makes the second writer wait instead of failing.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # A server that does not answer fails a connection attempt within this many seconds
    # (libpq's connect_timeout) instead of the operating system's minutes, and TCP keepalives
    # notice an idle connection whose server vanished (the dispatchers' listening connection).
    _options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
    _options.setdefault("keepalives_idle", 30)
    _options.setdefault("keepalives_interval", 10)
    _options.setdefault("keepalives_count", 3)
    if env.bool("DATABASE_POOL", default=True):
        # psycopg 3's pool replaces persistent connections (CONN_MAX_AGE must stay 0 with it).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # Each connection is checked as it leaves the pool, so one that died with a restarted
        # server is discarded instead of failing a request. (A dispatcher replaces the whole
        # pool when the database comes back: signals/recovery.py.)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        _options["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, loading the two-factor flags with the user (portal/backends.py).
    "portal.backends.PortalBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Two-factor sign-in (django-otp; portal/two_factor.py): required for staff, station admins
# and the people of dealers whose owner turned it on. The name authenticator apps show:
OTP_TOTP_ISSUER = env.str("PORTAL_OTP_ISSUER", default="Dealer portal")

# django-axes: lock the (username, address) pair, never a whole office behind one NAT address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address (dealers.lib.client_address) for the sign-in throttle and the device
# API's limits. 0: the peer address, and X-Forwarded-For is ignored (anyone can write it).
# Behind N reverse proxies that each append to X-Forwarded-For: the N-th entry from the right.
# (AXES_PROXY_COUNT is the old name, still read.)
PORTAL_PROXY_COUNT = env.int("DJANGO_PROXY_COUNT", default=env.int("AXES_PROXY_COUNT", default=0))
AXES_CLIENT_IP_CALLABLE = "dealers.lib.client_address"

# --- Caches ---------------------------------------------------------------------------------
# The device API's limits are counted where every process on every machine sees the same
# count: a table in the database by default (signals.limits), or Redis when
# DJANGO_LIMITS_REDIS_URL is set (e.g. redis://127.0.0.1:6379/1; pip install '.[redis]'): the
# "limits" cache, only then.
_limits_redis = env.str("DJANGO_LIMITS_REDIS_URL", default="")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if _limits_redis:
    CACHES["limits"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _limits_redis,
    }
# The device API's limits: requests per window per bridge token and per client address
# (dealers.lib.client_address; set DJANGO_PROXY_COUNT behind a proxy). 0 turns one off.
DEVICE_API_LIMIT_PER_TOKEN = env.int("DEVICE_API_LIMIT_PER_TOKEN", default=120)
DEVICE_API_LIMIT_PER_ADDRESS = env.int("DEVICE_API_LIMIT_PER_ADDRESS", default=1200)
DEVICE_API_LIMIT_WINDOW_SECONDS = env.int("DEVICE_API_LIMIT_WINDOW_SECONDS", default=60)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # hls.js (live view) from its npm package: `make install` runs `npm ci`; served as
    # static/hls.js/hls.min.js and its worker static/hls.js/hls.worker.js.
    ("hls.js", BASE_DIR / "node_modules" / "hls.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email ----------------------------------------------------------------------------------
# e.g. DJANGO_EMAIL_URL=smtp+tls://user:password@smtp.example.com:587
EMAIL_CONFIG = env.email_url("DJANGO_EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="portal@localhost")
SERVER_EMAIL = env.str("DJANGO_SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- Security -------------------------------------------------------------------------------
# On by default whenever DEBUG is off; DJANGO_SECURE=false only for a plain-HTTP test rig.
_secure = env.bool("DJANGO_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = _secure
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
if _secure:
    # __Host- cookies are only accepted over HTTPS, for this exact host, path "/".
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
SECURE_HSTS_PRELOAD = _secure
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts and styles only from the portal's own static
# files, never inline. Templates put JS in static/js/ and CSS in static/css/; htmx is told not
# to inject its indicator <style> (templates/base.html). Bootstrap's CSS draws some icons with
# data: SVG images; live video may play from blob: URLs (media source extensions).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:", "blob:"],
        "media-src": [csp.SELF, "blob:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    },
}
# Where browsers report violations, e.g. a collector's URL (none by default).
if _csp_report_uri := env.str("DJANGO_CSP_REPORT_URI", default=""):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [_csp_report_uri]
# Signed media URLs (media.signing): how long a snapshot or clip URL, and a live stream's
# playlist or segment URL, stays good after the page made it. Each request is also checked
# against the signed-in user's access to the site, so a longer life does not widen who sees it.
MEDIA_URL_MAX_AGE_SECONDS = env.int("MEDIA_URL_MAX_AGE_SECONDS", default=600)
MEDIA_LIVE_URL_MAX_AGE_SECONDS = env.int("MEDIA_LIVE_URL_MAX_AGE_SECONDS", default=900)
# One deadline for each fetch from a bridge's media relay (connect, request, whole answer).
MEDIA_RELAY_TIMEOUT_SECONDS = env.float("MEDIA_RELAY_TIMEOUT_SECONDS", default=5.0)
# Permissions-Policy (django-permissions-policy): no page of the portal uses the camera,
# microphone, location or payment APIs of the browser; video may go full screen.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "camera": [],
    "geolocation": [],
    "gyroscope": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "usb": [],
    "fullscreen": ["self"],
    "autoplay": ["self"],
    "picture-in-picture": ["self"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Background and scheduled work ----------------------------------------------------------
# django-q2 with its ORM broker: the task queue lives in the portal's own database, so it runs
# on the embedded SQLite of `make run` and on PostgreSQL with as many `manage.py qcluster`
# processes, on as many machines, as you like. Schedules are declared in code (each app's
# tasks.SCHEDULES) and written to the database on every `migrate` (portal/schedules.py).
# Alarm delivery is not a task: the dispatcher is its own outbox.
TASK_TIMEOUT_SECONDS = env.int("TASK_TIMEOUT_SECONDS", default=600)
Q_CLUSTER = {
    "name": "portal",
    "orm": "default",
    "workers": env.int("TASK_WORKERS", default=2),
    "timeout": TASK_TIMEOUT_SECONDS,
    # A task whose worker died is handed out again after this long; it must exceed the timeout.
    "retry": TASK_TIMEOUT_SECONDS + 60,
    "max_attempts": env.int("TASK_MAX_ATTEMPTS", default=3),
    # A schedule missed while no cluster ran runs once when one starts, not once per miss.
    "catch_up": False,
    "poll": env.float("TASK_POLL_SECONDS", default=1.0),
    "save_limit": 1000,
    "ack_failures": True,
    "label": "Tasks",
}

# --- Signals --------------------------------------------------------------------------------
# How long the dispatcher keeps trying to deliver a signal before it is marked failed and the
# dealer is told.
SIGNAL_DELIVERY_DEADLINE = timedelta(
    seconds=env.int("SIGNAL_DELIVERY_DEADLINE_SECONDS", default=300)
)
# How long an invitation's e-mailed link works (dealer teams, station staff).
INVITATION_EXPIRY = timedelta(days=env.int("INVITATION_EXPIRY_DAYS", default=7))
# The portal's public address: the deep link in every alarm package starts with it.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# The dispatcher (manage.py run_dispatcher; see docs/signals.md). Retries wait
# SIGNAL_BACKOFF_BASE_SECONDS, doubling per attempt up to SIGNAL_BACKOFF_MAX_SECONDS (jittered).
SIGNAL_BACKOFF_BASE_SECONDS = env.float("SIGNAL_BACKOFF_BASE_SECONDS", default=1.0)
SIGNAL_BACKOFF_MAX_SECONDS = env.float("SIGNAL_BACKOFF_MAX_SECONDS", default=60.0)
# How long a claimed signal stays a dispatcher's: a dispatcher that dies holds its signals this
# long at most. Keep it above twice a path's connect + reply timeout.
SIGNAL_LEASE_SECONDS = env.float("SIGNAL_LEASE_SECONDS", default=60.0)
# Signals claimed per transaction (and recorded at most in one), and the pause when nothing is
# due. 200 spread each claim's and each recording's fixed cost over more signals than 100 did
# (docs/signals.md, "Speed").
SIGNAL_DISPATCH_BATCH = env.int("SIGNAL_DISPATCH_BATCH", default=200)
SIGNAL_DISPATCH_POLL_SECONDS = env.float("SIGNAL_DISPATCH_POLL_SECONDS", default=0.5)
# Signals a dispatcher sends at once (its lanes, each with connections of its own). Eight keep a
# receiver on the same machine busy while the dispatcher waits for its answers (docs/signals.md).
SIGNAL_DISPATCH_CONNECTIONS = env.int("SIGNAL_DISPATCH_CONNECTIONS", default=8)
# Consecutive failures after which a receiver path counts as down (and dealers are told).
SIGNAL_PATH_DOWN_AFTER = env.int("SIGNAL_PATH_DOWN_AFTER", default=2)
# After a path fails, a dispatcher starts on the other path for this long before trying it again.
SIGNAL_PATH_RETRY_SECONDS = env.float("SIGNAL_PATH_RETRY_SECONDS", default=30.0)
# Extra CA certificates (PEM) trusted for receivers' TLS, e.g. a station's private CA.
SIGNAL_TLS_CA_FILE = env.str("SIGNAL_TLS_CA_FILE", default="")

# --- Operators (monitoring app) --------------------------------------------------------------
# A deep link's opening is written on a connection beside the request's own (monitoring.services);
# it is kept this long after its last write, so that a busy station's deep links skip the pool's
# checkout; 0 gives it back after every write.
OPENING_WRITER_IDLE_SECONDS = env.float("OPENING_WRITER_IDLE_SECONDS", default=2.0)

# --- Media from bridges (media app) ---------------------------------------------------------
# Snapshots and clips are stored through Django's storage named "media": a folder under var/
# by default, or any S3-compatible object store (AWS S3, MinIO, Ceph, R2 ...) when
# MEDIA_S3_BUCKET is set (django-storages). Browsers never get a storage URL: media reaches
# them only through the portal's signed, short-lived URLs.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or BASE_DIR / "var" / "media")
_media_bucket = env.str("MEDIA_S3_BUCKET", default="")
if _media_bucket:
    STORAGES["media"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _media_bucket,
            # e.g. http://minio.internal:9000; empty for AWS itself.
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            # Empty: boto3's own chain (instance role, AWS_* variables, ~/.aws).
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("MEDIA_S3_PREFIX", default="media"),
            # "path" for stores without virtual-host buckets (MinIO, most on-premises ones).
            "addressing_style": env.str("MEDIA_S3_ADDRESSING_STYLE", default="") or None,
            "default_acl": None,  # the bucket's own policy: private
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    STORAGES["media"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
# What the device API takes per upload, decided before the upload is stored.
MEDIA_SNAPSHOT_MAX_BYTES = env.int("MEDIA_SNAPSHOT_MAX_BYTES", default=5 * 1024 * 1024)
MEDIA_CLIP_MAX_BYTES = env.int("MEDIA_CLIP_MAX_BYTES", default=50 * 1024 * 1024)
# A JPEG larger than this many pixels is refused before it is decoded (decompression bombs).
MEDIA_IMAGE_MAX_PIXELS = env.int("MEDIA_IMAGE_MAX_PIXELS", default=40_000_000)
# A clip longer than this is refused (an event clip is seconds; a request at most minutes).
MEDIA_CLIP_MAX_SECONDS = env.int("MEDIA_CLIP_MAX_SECONDS", default=660)
# A "last two minutes" request no upload answered within this long is marked failed.
MEDIA_REQUEST_TIMEOUT_SECONDS = env.int("MEDIA_REQUEST_TIMEOUT_SECONDS", default=600)
