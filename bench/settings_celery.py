"""Django settings of the raw Celery + django-celery-results peer.

The same database configuration as the jobkit benchmark (example_project's, from
DATABASE_URL), the django_celery_results app only, and Celery's defaults otherwise.
"""

import os

from bench.common import peer_celery_conf
from example_project.settings import DATABASES, SECRET_KEY, TIME_ZONE, USE_TZ  # noqa: F401

DEBUG = False
INSTALLED_APPS = ["django_celery_results"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

for _key, _value in peer_celery_conf(os.environ["CELERY_BROKER_URL"]).items():
    globals()[f"CELERY_{_key.upper()}"] = _value
CELERY_RESULT_BACKEND = "django-db"
if os.environ.get("BENCH_DB_REUSE_MAX"):
    CELERY_DB_REUSE_MAX = int(os.environ["BENCH_DB_REUSE_MAX"])
