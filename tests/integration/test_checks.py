"""One test per system check id, and `manage.py check` runs them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import modify_settings, override_settings

from django_jobkit import checks


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


@pytest.fixture
def celery_conf(celery_app: Any) -> Iterator[Any]:
    """The project app's configuration, restored after the test."""
    saved = dict(celery_app.conf.changes)
    yield celery_app.conf
    celery_app.conf.changes.clear()
    celery_app.conf.changes.update(saved)


def test_the_example_configuration_passes_every_check():
    assert [m for m in run_checks() if m.id.startswith("django_jobkit.")] == []


@pytest.mark.parametrize(
    "change",
    [
        {"task_serializer": "pickle"},
        {"accept_content": ["json", "pickle"]},
        {"accept_content": ["application/x-python-serialize"]},
    ],
)
def test_e001_pickle_is_an_error(celery_conf, change):
    celery_conf.update(change)
    assert ids(checks.check_no_pickle()) == ["django_jobkit.E001"]


@pytest.mark.parametrize(
    ("app", "check_id"),
    [("django_celery_beat", "django_jobkit.E002"), ("django_celery_results", "django_jobkit.E003")],
)
def test_e002_e003_required_apps(app, check_id):
    assert checks.check_installed_apps() == []
    with modify_settings(INSTALLED_APPS={"remove": [app]}):
        assert ids(checks.check_installed_apps()) == [check_id]


def test_e004_sqlite_without_immediate_transactions():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}
    assert ids(checks.sqlite_without_immediate({"default": sqlite})) == ["django_jobkit.E004"]
    deferred = {**sqlite, "OPTIONS": {"transaction_mode": "DEFERRED"}}
    assert ids(checks.sqlite_without_immediate({"other": deferred})) == ["django_jobkit.E004"]
    immediate = {**sqlite, "OPTIONS": {"transaction_mode": "IMMEDIATE"}}
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}
    assert checks.sqlite_without_immediate({"a": immediate, "b": postgres}) == []


def test_e005_use_tz():
    with override_settings(USE_TZ=False):
        assert ids(checks.check_use_tz()) == ["django_jobkit.E005"]


def test_e006_middleware_must_import():
    with override_settings(JOBKIT_MIDDLEWARE=["no.such.Middleware"]):
        assert ids(checks.check_middleware()) == ["django_jobkit.E006"]


def test_w001_celery_default_queue(celery_conf):
    celery_conf.task_default_queue = "celery"
    assert ids(checks.check_default_queue()) == ["django_jobkit.W001"]


def test_w002_redis_priority_steps(celery_conf):
    celery_conf.broker_url = celery_conf.broker_write_url = "redis://127.0.0.1:6379/0"
    celery_conf.broker_transport_options = {}
    assert ids(checks.check_broker_priorities()) == ["django_jobkit.W002"]
    celery_conf.broker_transport_options = {"priority_steps": list(range(10))}
    assert checks.check_broker_priorities() == []


def test_w003_rabbitmq_max_priority(celery_conf):
    celery_conf.broker_url = celery_conf.broker_write_url = "amqp://guest:guest@127.0.0.1:5672//"
    celery_conf.task_queue_max_priority = None
    assert ids(checks.check_broker_priorities()) == ["django_jobkit.W003"]
    celery_conf.task_queue_max_priority = 10
    assert checks.check_broker_priorities() == []


def test_manage_py_check_runs_jobkit_checks():
    with override_settings(USE_TZ=False), pytest.raises(SystemCheckError, match="E005"):
        call_command("check")


@pytest.mark.django_db
def test_migrations_match_models():
    call_command("makemigrations", "django_jobkit", "--check", "--dry-run", verbosity=0)


def test_w004_w005_worker_connections():
    pg = {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}
    assert ids(checks.connection_warnings({"default": pg}, keep=True)) == ["django_jobkit.W004"]
    kept = {**pg, "CONN_MAX_AGE": 60}
    assert ids(checks.connection_warnings({"default": kept}, keep=True)) == ["django_jobkit.W005"]
    checked = {**kept, "CONN_HEALTH_CHECKS": True}
    assert checks.connection_warnings({"default": checked}, keep=True) == []
    assert checks.connection_warnings({"default": pg}, keep=False) == []
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}
    assert checks.connection_warnings({"default": sqlite}, keep=True) == []


def test_w007_filesystem_broker_polling(celery_conf):
    celery_conf.broker_url = celery_conf.broker_write_url = "filesystem://"
    celery_conf.broker_transport_options = {}
    assert ids(checks.check_filesystem_polling()) == ["django_jobkit.W007"]
    celery_conf.broker_transport_options = {"polling_interval": 0.05}
    assert checks.check_filesystem_polling() == []
