"""What every process of a benchmark run agrees on: paths, URLs, sizes, environment."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
#: SQLite file and filesystem-transport folders of the `sqlite-fs` configuration.
VAR = OUT / "var"

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/jobkit_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"

#: Worker flags, identical for every system (the project's own worker tests use the same three
#: `--without-*`: no broadcast traffic between workers, no one-second mingle at start-up).
CONCURRENCY = 2
WORKER_FLAGS = [
    "-P",
    "prefork",
    "-c",
    str(CONCURRENCY),
    "-l",
    "warning",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
]

#: Remote-control and event exchanges of bench workers, kept apart from other workers on the
#: same broker (a test's `celery inspect` must not see bench workers, nor the reverse).
CONTROL_EXCHANGE = "bench-celery"
EVENT_EXCHANGE = "bench-celeryev"

#: `CELERY_DB_REUSE_MAX` of the "connections kept" variant: one reconnection per 1,000 tasks.
DB_REUSE_MAX = 1000


@dataclass
class Sizes:
    """How many jobs each measure uses (`--quick` and flags change them)."""

    enqueue: int = 5000  # (a) one per transaction; the same jobs are then drained in (c)
    bulk: int = 10_000  # (b)
    latency: int = 500  # (d) sequential, after `latency_warmup` unmeasured ones
    latency_warmup: int = 20
    rss: int = 50_000  # (f)
    dedup_processes: int = 8  # (e)
    dedup_keys: int = 20
    big_rows: int = 1_000_000  # --big-tables: rows in each of the two filled tables

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


#: --quick: the same measures on fewer jobs, to finish in under 3 minutes on 2 cores.
QUICK = Sizes(enqueue=2000, bulk=2000, latency=200, rss=1000)


@dataclass
class Config:
    """One database + broker pair; every system of a run is measured against it."""

    name: str
    label: str
    database_url: str
    broker_url: str

    @property
    def vendor(self) -> str:
        return "postgresql" if self.database_url.startswith("postgres") else "sqlite"

    @property
    def broker(self) -> str:
        scheme = self.broker_url.split("://", 1)[0]
        return {"amqp": "amqp", "pyamqp": "amqp", "redis": "redis"}.get(scheme, scheme)


def configs(postgres: str, redis: str, amqp: str) -> dict[str, Config]:
    return {
        "pg-redis": Config("pg-redis", "PostgreSQL + Redis", postgres, redis),
        "pg-rabbitmq": Config("pg-rabbitmq", "PostgreSQL + RabbitMQ", postgres, amqp),
        "sqlite-fs": Config(
            "sqlite-fs",
            "SQLite + filesystem transport",
            f"sqlite:///{VAR / 'bench.sqlite3'}",
            "filesystem://",
        ),
    }


def base_env(config: Config, **extra: str) -> dict[str, str]:
    """The environment of every process of a run (drivers, workers, racers, migrate)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "CELERY_DB_REUSE_MAX")
    }
    env.update(
        DATABASE_URL=config.database_url,
        CELERY_BROKER_URL=config.broker_url,
        JOBKIT_VAR_DIR=str(VAR),
        JOBKIT_BROKER_DIR="broker",
        JOBKIT_LOG_LEVEL="WARNING",
        DEBUG="0",  # DEBUG keeps every query's SQL in memory: never measure with it
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def filesystem_transport_options() -> dict[str, Any]:
    """The folders and polling interval example_project.settings gives the filesystem broker,
    so that peers and jobkit share the same queue folder and the same 50 ms polling."""
    folder = Path(os.environ.get("JOBKIT_VAR_DIR", VAR)) / os.environ.get(
        "JOBKIT_BROKER_DIR", "broker"
    )
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }


def peer_celery_conf(broker_url: str) -> dict[str, Any]:
    """Celery configuration of the raw Celery peers: Celery's defaults, as shipped.

    With BENCH_PEERS_LIKE_JOBKIT=1 (`--peers-like-jobkit`) they get the Celery settings of
    example_project instead (prefetch 1, ten Redis priority steps, priority queues), to tell
    the cost of those settings from the cost of jobkit's engine.
    """
    conf: dict[str, Any] = {
        "broker_url": broker_url,
        "broker_connection_retry_on_startup": True,
        "control_exchange": CONTROL_EXCHANGE,
        "event_exchange": EVENT_EXCHANGE,
    }
    if broker_url.startswith("filesystem://"):
        conf["broker_transport_options"] = filesystem_transport_options()
    if os.environ.get("BENCH_PEERS_LIKE_JOBKIT") == "1":
        conf.update(
            worker_prefetch_multiplier=1,
            task_queue_max_priority=10,
            task_default_priority=4,
        )
        if broker_url.startswith(("redis://", "rediss://")):
            conf["broker_transport_options"] = {
                "priority_steps": list(range(10)),
                "sep": ":",
                "queue_order_strategy": "priority",
            }
    return conf


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)
