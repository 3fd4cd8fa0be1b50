"""Settings from the environment, defaulting to an embedded setup that needs no server.

DATABASE_URL       default sqlite:///var/db.sqlite3   (postgres://..., mysql://... also work)
CELERY_BROKER_URL  default filesystem://              (redis://..., amqp://... also work)
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("JOBKIT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-demo-only")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "django_jobkit",
    "example_project.demo",
    "example_project.media",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"

# An empty variable counts as unset, so `DATABASE_URL= ./dev.py test` means the default.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: every transaction takes the write lock up front, which is what makes the
    # concurrency-key dedup hold on SQLite (system check django_jobkit.E004).
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The tests' database beside it: var/test-db.sqlite3 for the default var/db.sqlite3.
    _db.setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test-{Path(_db['NAME']).stem}.sqlite3")
elif _db["ENGINE"] == "django.db.backends.mysql":
    import pymysql

    pymysql.install_as_MySQLdb()
    _db.setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")
    _db.setdefault("TEST", {}).setdefault("CHARSET", "utf8mb4")
    _db["TEST"].setdefault("COLLATION", "utf8mb4_unicode_ci")
_db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
_db.setdefault("CONN_HEALTH_CHECKS", True)

USE_TZ = True
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"

# The media app's uploads and outputs (example_project/media).
MEDIA_URL = "media/"
MEDIA_ROOT = Path(environ.Env().str("JOBKIT_DEMO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = VAR_DIR / "mail"

# Who may follow jobs on the events stream (/jobs/events/): staff, and visitors for the jobs
# they started from the demo page.
JOBKIT_EVENTS_PERMISSION = "example_project.demo.views.may_follow"

# Django's tasks framework (django.tasks on Django 6.0, the django-tasks backport on 5.2):
# `@task` functions run as jobkit jobs (demo/tasks.py), shown in the admin like any job.
TASKS = {
    "default": {
        "BACKEND": "django_jobkit.tasks_backend.JobkitBackend",
        "QUEUES": ["default", "slow"],
    }
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# django-celery-results for every task; jobkit answers for its own jobs from its rows.
CELERY_RESULT_BACKEND = "django_jobkit.results_backend.JobkitBackend"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Priorities: one message at a time per worker child, so an urgent job is never stuck behind
# prefetched ones; RabbitMQ queues get x-max-priority; Redis gets all ten priority steps.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_QUEUE_MAX_PRIORITY = 10
CELERY_TASK_DEFAULT_PRIORITY = 4
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / env.str("JOBKIT_BROKER_DIR", default="broker")
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The transport polls its folder; its 1 s default would add up to a second per job.
        "polling_interval": 0.05,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_jobkit": {
            "handlers": ["console"],
            "level": env.str("JOBKIT_LOG_LEVEL", default="INFO"),
        }
    },
}
