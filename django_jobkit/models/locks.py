"""The enqueue lock: one (job class, concurrency key) at a time, held until the transaction ends.

Enqueue takes it around dedup; a running limit takes it (namespace `LIMIT`, its key) around
counting and admitting the key's slots. It lives in the query layer, beside the records it
locks, so that the layer's own steps (releasing a slot as an attempt is recorded) can take it.

A database lock, never a Redis one, so the guarantee holds whichever broker carries messages:
- PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of the key (no table churn);
- SQLite: nothing to do — with `transaction_mode = "IMMEDIATE"` every transaction already holds
  the database's single write lock from its first statement (system check E004 enforces it);
- MySQL/MariaDB and others: the row of `JobLock` for the key, created and locked exclusively by
  one upsert (`INSERT ... ON DUPLICATE KEY UPDATE` takes an exclusive lock even on a duplicate,
  so two first-time enqueuers queue up instead of deadlocking).
"""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.db import connections
from django.utils import timezone


def lock_key(job_class: str, concurrency_key: str) -> bytes:
    return hashlib.blake2b(f"{job_class}\0{concurrency_key}".encode(), digest_size=32).digest()


def acquire(using: str, job_class: str, concurrency_key: str) -> None:
    """Block until this transaction holds the lock for the key; released at commit/rollback."""
    JobLock = apps.get_model("django_jobkit", "JobLock")  # the records import this module

    connection = connections[using]
    digest = lock_key(job_class, concurrency_key)
    vendor = connection.vendor
    if vendor == "sqlite":
        return
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )
        elif vendor == "mysql":
            table = connection.ops.quote_name(JobLock._meta.db_table)
            cursor.execute(
                f"INSERT INTO {table} (`key`, locked_at) VALUES (%s, %s) "
                "ON DUPLICATE KEY UPDATE locked_at = VALUES(locked_at)",
                [digest.hex(), timezone.now()],
            )
        else:
            JobLock.objects.using(using).bulk_create(
                [JobLock(key=digest.hex(), locked_at=timezone.now())],
                update_conflicts=True,
                unique_fields=["key"],
                update_fields=["locked_at"],
            )
            list(JobLock.objects.using(using).select_for_update().filter(key=digest.hex()))


#: The namespace of running limits' locks (beside job classes' concurrency keys).
LIMIT = "jobkit.limit"
