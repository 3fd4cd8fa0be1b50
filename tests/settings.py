"""The example project's settings plus the fixture jobs; same environment variables."""

import os
from pathlib import Path

os.environ.setdefault("JOBKIT_BROKER_DIR", "test-broker")

from example_project.settings import *  # noqa: F403
from example_project.settings import DATABASES

INSTALLED_APPS = [*INSTALLED_APPS, "tests"]  # noqa: F405

# A second database playing a read replica that never catches up: nothing is ever written to
# it but its schema, so any engine read routed to it sees no rows (tests/routers.py).
_primary = DATABASES["default"]
if _primary["ENGINE"] == "django.db.backends.sqlite3":
    # Named after the primary's file, so that two runs on two SQLite files share nothing.
    _stem = Path(_primary["NAME"]).stem
    _replica_name = str(VAR_DIR / f"{_stem}-replica.sqlite3")  # noqa: F405
    _replica_test = {"NAME": str(VAR_DIR / f"test-{_stem}-replica.sqlite3")}  # noqa: F405
else:
    _replica_name = f"{_primary['NAME']}_replica"
    _replica_test = {"NAME": f"test_{_replica_name}"}
DATABASES["replica"] = {
    **_primary,
    "NAME": _replica_name,
    "TEST": {**_primary.get("TEST", {}), **_replica_test},
}

# Worker subprocesses started by the tests must use the databases the test run created.
if os.environ.get("JOBKIT_USE_TEST_DATABASE"):
    for _db in DATABASES.values():
        _db["NAME"] = _db.get("TEST", {}).get("NAME") or f"test_{_db['NAME']}"

if os.environ.get("JOBKIT_TEST_STALE_REPLICA"):
    DATABASE_ROUTERS = ["tests.routers.StaleReplicaRouter"]

# Django's tasks framework on jobkit, on any queue (the tests give workers queues of their own).
TASKS = {"default": {**TASKS["default"], "QUEUES": []}}  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Short reliability intervals for the test run, overridable from the environment so that
# worker subprocesses started by a test see the same values as the test itself.
JOBKIT_HEARTBEAT_INTERVAL = float(os.environ.get("JOBKIT_HEARTBEAT_INTERVAL", 0.5))
JOBKIT_HEARTBEAT_TIMEOUT = float(os.environ.get("JOBKIT_HEARTBEAT_TIMEOUT", 10))
JOBKIT_SWEEP_INTERVAL = float(os.environ.get("JOBKIT_SWEEP_INTERVAL", 1))
JOBKIT_RESEND_AFTER = float(os.environ.get("JOBKIT_RESEND_AFTER", 600))
JOBKIT_DELAY_HORIZON = float(os.environ.get("JOBKIT_DELAY_HORIZON", 60))
JOBKIT_TIMEOUT_GRACE = float(os.environ.get("JOBKIT_TIMEOUT_GRACE", 2))

# A cache every process of a test run shares (workers report hooks through it).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "test-cache"),  # noqa: F405
    }
}

# Workers take their turns at the sweep unless a test controls sweeping itself.
# Each GPU worker test has a queue of its own, so no earlier run's message reaches it.
JOBKIT_GPU_QUEUE = os.environ.get("JOBKIT_TEST_GPU_QUEUE", "gpu")
JOBKIT_WORKER_SWEEPS = os.environ.get("JOBKIT_WORKER_SWEEPS", "1") == "1"

# A project as Celery's defaults leave it: its default queue is "celery", not jobkit's.
if os.environ.get("JOBKIT_TEST_NO_DEFAULT_QUEUE"):
    del CELERY_TASK_DEFAULT_QUEUE  # noqa: F821

JOBKIT_KEEP_DB_CONNECTIONS = os.environ.get("JOBKIT_KEEP_DB_CONNECTIONS", "1") == "1"

# Lets a test start a worker on a broken configuration (naive times, check E005).
if os.environ.get("JOBKIT_TEST_NAIVE_TIMES"):
    USE_TZ = False

# Lets a test start a worker that sends task events (as `celery worker -E`), for Flower.
if os.environ.get("JOBKIT_TEST_TASK_EVENTS"):
    CELERY_WORKER_SEND_TASK_EVENTS = True

# The media app's files, one folder per test run's broker (the worker subprocesses share it).
MEDIA_ROOT = VAR_DIR / f"{os.environ['JOBKIT_BROKER_DIR']}-media"  # noqa: F405
