"""Shared fixtures: real workers (in-process and subprocess) on the configured broker and DB.

The database and broker come from DATABASE_URL and CELERY_BROKER_URL, exactly as for the
example project; with neither set the suite runs on SQLite and the filesystem transport.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import kombu.pools
import pytest
from django.conf import settings

from django_jobkit.testing import embedded_worker

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def race(argv: list[str], env: dict[str, str], racers: int = 8) -> list[str]:
    """Start `racers` copies of a Python command, release them together, return their outputs.

    Each racer prints `ready` once set up and waits for a line on stdin: the barrier is an
    event, not a sleep. Fails if any racer fails.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(racers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    return [out for out, _ in outputs]


def broker_kind() -> str:
    from django_jobkit.enqueue.routing import broker_kind as kind

    return kind()


@pytest.fixture(scope="session", autouse=True)
def _fresh_filesystem_broker() -> None:
    """Messages left by an earlier run on the filesystem transport are removed."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    folder = options.get("data_folder_in")
    if settings.CELERY_BROKER_URL.startswith("filesystem://") and folder:
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))


@pytest.fixture
def unique_queue() -> str:
    """A queue no earlier test or run has used, so brokers hold no stale messages in it."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def celery_app() -> Any:
    from example_project.celery import app

    return app


@pytest.fixture
def inprocess_worker(celery_app: Any, transactional_db: None) -> Iterator[Any]:
    """Celery's own embedded test worker (solo pool, in a thread), pinged before use."""
    with embedded_worker(celery_app, ["default", "slow"]) as worker:
        yield worker


class CeleryProcess:
    """A real `celery -A example_project ...` subprocess, its output in a log file."""

    #: What the process prints once it is up.
    ready_marker = " ready."

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "example_project", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        what = type(self).__name__

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{what} exited with {self.proc.returncode}:\n{self.output()}")
            return self.ready_marker in self.output()

        wait_for(ready, timeout, f"{what} to be ready")

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown as a service manager does it: SIGTERM to the main process only."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log_file.close()


P = TypeVar("P", bound=CeleryProcess)


class WorkerProcess(CeleryProcess):
    """A real `celery -A example_project worker` subprocess, as a user would run it."""

    def __init__(
        self,
        queues: list[str],
        concurrency: int,
        pool: str,
        log: Path,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.name = f"w{uuid.uuid4().hex[:8]}@%h"
        args = ["worker", "-Q", ",".join(queues), "-c", str(concurrency), "-P", pool]
        args += extra_args or []
        args += ["-n", self.name, "-l", "info"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "JOBKIT_USE_TEST_DATABASE": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        super().__init__(args, log, env)


#: The subprocesses a test started, so that its failure report can show what they printed.
_CELERY_PROCESSES = pytest.StashKey[list[list[Any]]]()


def reported_on_failure(request: pytest.FixtureRequest, started: list[P]) -> list[P]:
    """`started`, the list a fixture keeps its subprocesses in: a failing test shows their logs."""
    request.node.stash.setdefault(_CELERY_PROCESSES, []).append(started)
    return started


#: How much of each subprocess's log a failure report shows: the end, where it went wrong.
LOG_TAIL = 6000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test that ran worker (or beat) subprocesses reports the end of each one's log:
    a worker that hung or died says why there, and CI keeps nothing else of it."""
    report = yield
    if report.failed and report.when in ("call", "teardown"):
        for process in (p for started in item.stash.get(_CELERY_PROCESSES, []) for p in started):
            with contextlib.suppress(OSError):
                text = process.output()
                tail = text[-LOG_TAIL:]
                cut = f"[... {len(text) - len(tail)} characters before]\n" if tail != text else ""
                report.sections.append((f"log of {process.log.name}", cut + tail))
    return report


@pytest.fixture
def start_worker_process(
    transactional_db: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker subprocesses; all are stopped (warm shutdown) after the test."""
    started: list[WorkerProcess] = reported_on_failure(request, [])

    def start(
        queues: list[str] | None = None,
        concurrency: int = 1,
        pool: str = "prefork",
        ready: bool = True,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> WorkerProcess:
        """`args`: more `celery worker` options (e.g. ["--soft-time-limit", "2"])."""
        log = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(queues or ["default"], concurrency, pool, log, env, args)
        started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def test_database_env(django_db_setup: None, django_db_blocker: Any) -> dict[str, str]:
    """Environment for any subprocess that must use the test run's database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "JOBKIT_USE_TEST_DATABASE": "1",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def _queues_to_drop() -> Iterator[list[str]]:
    """Queues made by `fresh_queue`, removed from the broker once every worker has stopped."""
    names: list[str] = []
    yield names
    if not names:
        return
    from example_project.celery import app

    with app.connection_for_write() as conn:
        for name in names:
            channel = conn.channel()
            try:
                if broker_kind() == "amqp":
                    channel.queue_delete(name)
                    channel.exchange_delete(name)
                else:
                    channel.queue_purge(name)
            except Exception:  # never declared (the test did not get that far): nothing to drop
                pass
            finally:
                channel.close()


@pytest.fixture
def fresh_queue(_queues_to_drop: list[str]) -> Callable[[], str]:
    """Make queue names no earlier test or run has used; the broker forgets them after the run."""

    def make() -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        _queues_to_drop.append(name)
        return name

    return make


@pytest.fixture
def start_inprocess_worker(celery_app: Any, transactional_db: None) -> Iterator[Callable[..., Any]]:
    """Start Celery's embedded worker (solo pool, in a thread) on the given queues, when needed.

    Unlike `inprocess_worker` it can start after jobs were enqueued and consume fresh queues. It
    is pinged through its first queue before use, and stopped after the test. One at a time.
    """
    with contextlib.ExitStack() as stack:

        def start(queues: list[str]) -> Any:
            return stack.enter_context(embedded_worker(celery_app, queues))

        yield start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server on a loopback port, to stop and start without disturbing others."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def accepting() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(accepting, 20, "redis-server to accept connections")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server; where none is installed, the test is skipped (failed in CI)."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (needed for a private Redis broker)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
    # Clients of a server the test stopped or restarted drop their dead sockets to the garbage
    # collector; collect them here, in the test that made them, rather than have the
    # ResourceWarning surface at whichever later test the collector happens to run in.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def rabbitmq_scripts() -> Path | None:
    """The folder of RabbitMQ's own scripts, or None where rabbitmq-server is not installed.

    Debian's /usr/sbin/rabbitmq-server is a wrapper that re-runs the script as the `rabbitmq`
    user in that user's home, with the shared node's Erlang cookie; the real scripts beside it
    run as we are, with the environment we give them.
    """
    found = shutil.which("rabbitmq-server")
    return Path(os.path.realpath(found)).parent if found else None


class RabbitNode:
    """A private RabbitMQ node on loopback ports, its files under one folder.

    Nothing is shared with the machine's own node: its name, AMQP and distribution ports, data,
    logs, configuration (an empty one, not /etc/rabbitmq's), plugins (none) and Erlang cookie
    (a HOME of its own) are all its own, so stopping it disturbs nothing else.
    """

    def __init__(self, folder: Path, scripts: Path) -> None:
        self.name = f"jobkit-{uuid.uuid4().hex[:10]}@localhost"
        self.port, self.dist_port = free_port(), free_port()
        while self.dist_port == self.port:
            self.dist_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.scripts = scripts
        self.log = folder / "rabbitmq-server.log"
        self.pid_file = folder / "rabbitmq.pid"
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq.conf").write_text("")
        (folder / "rabbitmq-env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(folder),  # where the node makes its Erlang cookie and the CLI reads it
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        """Boot the node (its data kept from an earlier boot) and wait until it is up."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.scripts / "rabbitmq-server")],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for the last-resort kill
            )

        def accepting() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"rabbitmq-server exited:\n{self.log.read_text()}")
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        # The AMQP listener opens at the end of the boot; await_startup confirms it (asked
        # earlier, before the node has registered its name, it fails at once).
        wait_for(accepting, timeout, f"RabbitMQ node {self.name} to accept connections")
        self.ctl("await_startup", "--timeout", str(int(timeout)))

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """Run `rabbitmqctl -n <this node> ...`; it can reach no other node (other cookie)."""
        done = subprocess.run(
            [str(self.scripts / "rabbitmqctl"), "-n", self.name, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"rabbitmqctl {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def restart_app(self) -> None:
        """Stop and start the broker inside the running node, as `rabbitmqctl` restarts it.

        Every connection is closed and every queue stopped; durable queues and the persistent
        messages in them are recovered from disk, the rest is lost.
        """
        self.ctl("stop_app")
        self.ctl("start_app")

    def stop(self) -> None:
        """Stop the node, gracefully if it answers, then kill whatever is left of it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self.ctl("stop", timeout=60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # its group is still ours while the script is unreaped
            os.killpg(self.proc.pid, signal.SIGKILL)  # the script, the VM and its helpers
            self.proc.wait(10)
        vm = self.vm_pid()
        if vm is not None:
            os.kill(vm, signal.SIGKILL)

    def vm_pid(self) -> int | None:
        """The pid of this node's Erlang VM while it runs (checked by its HOME, never reused)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        return pid if f"-home\0{self.folder}\0".encode() in command else None


@pytest.fixture
def private_rabbitmq(tmp_path: Path) -> Iterator[RabbitNode]:
    """A private RabbitMQ node; where none is installed, the test is skipped (failed in CI)."""
    scripts = rabbitmq_scripts()
    if scripts is None:
        message = "rabbitmq-server is not installed (needed for a private RabbitMQ broker)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    node = RabbitNode(tmp_path / "rabbitmq", scripts)
    try:
        node.start()
        yield node
    finally:
        node.stop()
        with warnings.catch_warnings():  # as for private_redis: sockets to a restarted broker
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


@contextmanager
def publishing_to(app: Any, url: str) -> Iterator[None]:
    """Make this process's Celery app publish to another broker (real connections)."""
    # broker_url itself stays as Django's settings say; the write/read URLs take precedence.
    saved = app.conf.broker_write_url, app.conf.broker_transport_options

    def switch(broker: str, options: Any) -> None:
        app.conf.update(
            broker_write_url=broker, broker_read_url=broker, broker_transport_options=options
        )
        from django_jobkit.enqueue.publish import clear_caches

        clear_caches()
        # kombu keeps process-wide pools keyed by connection, shared with the app's own: close
        # them all and forget them, so that nothing later acquires from a closed pool.
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    options = {"priority_steps": list(range(10)), "sep": ":", "queue_order_strategy": "priority"}
    switch(url, options if url.startswith("redis") else {})
    try:
        yield
    finally:
        switch(*saved)
