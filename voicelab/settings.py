"""Voice Lab settings: everything comes from the environment, with safe local defaults.

Local default: SQLite and an embedded Redis (started by ``manage.py runlab``) under
``VOICELAB_DATA_DIR``. Scaling out: point ``DATABASE_URL`` at PostgreSQL and
``REDIS_URL`` at a shared Redis, and start more Celery workers (GPU machines too).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import plotly
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("VOICELAB_DATA_DIR", BASE_DIR / "data")).resolve()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def secret_key(path: Path) -> str:
    """The key kept in the data directory, made at the lab's first start (never in the code).

    Created exclusively, so two processes starting at once agree on one key.
    """
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(get_random_secret_key())
    except FileExistsError:
        pass
    return path.read_text().strip()


# Off unless asked for: a debug page shows settings and code to whoever causes an error.
DEBUG = env_bool("DJANGO_DEBUG", False)
if os.environ.get("DJANGO_SECRET_KEY"):
    SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    SECRET_KEY = secret_key(DATA_DIR / "secret_key")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Behind a TLS proxy (VOICELAB_HTTPS=1): cookies only over HTTPS, HTTP redirected, HSTS for a
# year. The proxy must set X-Forwarded-Proto. Off by default: the lab alone speaks plain HTTP.
VOICELAB_HTTPS = env_bool("VOICELAB_HTTPS", False)
if VOICELAB_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("VOICELAB_HSTS_SUBDOMAINS", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "voicelab",
    "accounts",
    "labeling",
    "distillation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LanguageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "voicelab.urls"
ASGI_APPLICATION = "voicelab.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'voicelab.sqlite3'}"),
        conn_max_age=600,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and tests share the file: wait for locks instead of failing at once,
    # and keep the test database on disk so a real worker process can see it.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("VOICELAB_TEST_DB", str(DATA_DIR / "test-voicelab.sqlite3"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "labeling:workspace"
LOGOUT_REDIRECT_URL = "login"

# Spanish first (the lab's people are at a Spanish call center); English for whoever chooses it.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # remembered before logging in; after, the account remembers
TIME_ZONE = os.environ.get("TZ", "Europe/Madrid")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("VOICELAB_STATIC_ROOT", DATA_DIR / "staticfiles")).resolve()
# plotly.js comes from the plotly package itself: no CDN, no copy in git.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
MEDIA_ROOT = Path(os.environ.get("VOICELAB_MEDIA_ROOT", DATA_DIR / "media")).resolve()
MEDIA_URL = "media/"

# Uploads: the audio limits are checked by the labeling services with a clear message.
# Uploaded files over FILE_UPLOAD_MAX_MEMORY_SIZE are spooled to a temporary file, not memory.
VOICELAB_MAX_UPLOAD_BYTES = int(os.environ.get("VOICELAB_MAX_UPLOAD_MB", "50")) * 1024 * 1024
VOICELAB_MAX_TAKE_SECONDS = float(os.environ.get("VOICELAB_MAX_TAKE_SECONDS", "60"))
# An export zip holds every validated take: ~127 takes of up to 60 s.
VOICELAB_MAX_IMPORT_BYTES = int(os.environ.get("VOICELAB_MAX_IMPORT_MB", "1000")) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Kokoro model assets (assembled by ``manage.py fetch_models``) and the TTS service.
VOICELAB_MODELS_DIR = Path(os.environ.get("VOICELAB_MODELS_DIR", DATA_DIR / "models")).resolve()
# Stage 4 copies the validated style voices here (the TTS service's KOKORO_VOICE_PATH folder).
VOICELAB_DEPLOYED_VOICES_DIR = Path(
    os.environ.get("VOICELAB_DEPLOYED_VOICES_DIR", VOICELAB_MODELS_DIR / "deployed")
).resolve()
VOICELAB_TTS_PORT = int(os.environ.get("VOICELAB_TTS_PORT", "8001"))
VOICELAB_TTS_URL = os.environ.get("VOICELAB_TTS_URL", f"http://127.0.0.1:{VOICELAB_TTS_PORT}")
# The TTS service's API keys: the lab publishes their hashes here, the service reads them; the
# lab's own operator key lives beside (mode 0600), unless VOICELAB_TTS_API_KEY gives one.
VOICELAB_TTS_KEYS_FILE = Path(os.environ.get("VOICELAB_TTS_KEYS_FILE", DATA_DIR / "tts-keys.json")).resolve()
VOICELAB_TTS_LAB_KEY_FILE = Path(os.environ.get("VOICELAB_TTS_LAB_KEY_FILE", DATA_DIR / "tts-lab-key")).resolve()
VOICELAB_TTS_API_KEY = os.environ.get("VOICELAB_TTS_API_KEY", "")
KOKORO_FALLBACK_VOICE = os.environ.get("KOKORO_FALLBACK_VOICE", "ef_dora")
# Distillation runs write their files (reference audio, checkpoints, voices, report) here, one folder a run.
VOICELAB_RUNS_DIR = Path(os.environ.get("VOICELAB_RUNS_DIR", DATA_DIR / "distillation" / "runs")).resolve()
# Stage 1's F5-TTS teacher, for runs launched from the dashboard with an uploaded voice:
# a teacher server (POST /synthesize), or local checkpoint and vocoder for f5-tts in process.
VOICELAB_TEACHER_URL = os.environ.get("VOICELAB_TEACHER_URL", "")
VOICELAB_F5_CHECKPOINT = os.environ.get("VOICELAB_F5_CHECKPOINT", "")
VOICELAB_F5_VOCODER = os.environ.get("VOICELAB_F5_VOCODER", "")
# The .env file the deploy stage edits (TTS_BACKEND, KOKORO_VOICE_PATH); the TTS service reads it.
VOICELAB_ENV_FILE = Path(os.environ.get("VOICELAB_ENV_FILE", BASE_DIR / ".env")).resolve()

# Redis: the embedded one (started by ``runlab``) unless REDIS_URL points elsewhere.
VOICELAB_REDIS_PORT = int(os.environ.get("VOICELAB_REDIS_PORT", "6390"))
REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:{VOICELAB_REDIS_PORT}/0")
EMBEDDED_REDIS = "REDIS_URL" not in os.environ

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TRACK_STARTED = True
# Distillation runs go to their own queue so GPU machines can serve it alone
# (`celery -A voicelab worker -Q distillation --pool solo`); `runlab` starts one of each.
CELERY_TASK_ROUTES = {
    # The recovery sweep must not wait behind a walk on a solo distillation worker.
    "distillation.tasks.recover_orphans": {"queue": "celery"},
    "distillation.tasks.*": {"queue": "distillation"},
}
# A message a dead worker took is handed out again after this long. Validations take seconds;
# the distillation tasks are acknowledged when they start and hold a lease in the database
# instead (a dead worker's stages and walks are recovered by the sweep, see distillation.tasks),
# so no task waits on this for hours.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("VOICELAB_VISIBILITY_TIMEOUT", "300"))}
# Publishing gives up after about a second when Redis is down: the caller records it and the
# sweep queues the work once Redis is back, instead of a request hanging or failing.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# The sweeps (``runlab`` starts one celery beat): pending takes never queued, or queued longer
# than VOICELAB_PENDING_REQUEUE_SECONDS ago, are queued again; orphaned runs are recovered.
VOICELAB_SWEEP_SECONDS = float(os.environ.get("VOICELAB_SWEEP_SECONDS", "60"))
VOICELAB_PENDING_REQUEUE_SECONDS = float(os.environ.get("VOICELAB_PENDING_REQUEUE_SECONDS", "180"))
CELERY_BEAT_SCHEDULE = {
    "queue-pending-takes": {"task": "labeling.tasks.queue_pending_takes", "schedule": VOICELAB_SWEEP_SECONDS},
    "recover-distillation": {"task": "distillation.tasks.recover_orphans", "schedule": VOICELAB_SWEEP_SECONDS},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that channels_redis
        # blocks on BZPOPMIN: an idle websocket's consumer then dies with a TimeoutError.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # A refused or missing page (403, 404, 400) is expected and answered with a message; the
    # server's access log already has its line. Only a failure (5xx) is worth a traceback.
    "loggers": {"django.request": {"level": "ERROR"}},
}
