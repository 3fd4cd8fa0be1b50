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
