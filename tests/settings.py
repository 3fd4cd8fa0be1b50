"""The example project's settings plus the fixture jobs; same environment variables."""

import os

os.environ.setdefault("JOBKIT_BROKER_DIR", "test-broker")

from example_project.settings import *  # noqa: F403
from example_project.settings import DATABASES

INSTALLED_APPS = [*INSTALLED_APPS, "tests"]  # noqa: F405

# Worker subprocesses started by the tests must use the database the test run created.
if os.environ.get("JOBKIT_USE_TEST_DATABASE"):
    _db = DATABASES["default"]
    _db["NAME"] = _db.get("TEST", {}).get("NAME") or f"test_{_db['NAME']}"

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

JOBKIT_KEEP_DB_CONNECTIONS = os.environ.get("JOBKIT_KEEP_DB_CONNECTIONS", "1") == "1"

# Lets a test start a worker on a broken configuration (naive times, check E005).
if os.environ.get("JOBKIT_TEST_NAIVE_TIMES"):
    USE_TZ = False
