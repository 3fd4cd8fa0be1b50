#!/usr/bin/env python3
"""The project's two commands; needs only Python 3.11+ (no make, no database or broker server).

    python3 dev.py demo          run the example project: web, worker, beat, sample jobs
    python3 dev.py test [ARGS]   ruff, the migrations check and pytest (ARGS go to pytest)

Both create .venv when it is missing and install the project into it whenever pyproject.toml
changed since the last install. DATABASE_URL and CELERY_BROKER_URL select the database and
broker (unset: SQLite and kombu's filesystem transport under var/).
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
STAMP = VENV / ".dev-installed"  # the sha256 of the pyproject.toml last installed
DEMO_ADDRESS = ("127.0.0.1", 8000)
# `honcho start`, allowing 20 s instead of 5 between SIGTERM and SIGKILL: a Celery worker's warm
# shutdown on the filesystem transport takes about 6 s (honcho has no option: its issue #189).
HONCHO = (
    "import sys, honcho.command as c, honcho.manager as m; m.KILL_WAIT = 20; c.main(sys.argv[1:])"
)


def main(argv):
    if sys.version_info < (3, 11):  # noqa: UP036 - run by any python3 on the machine
        sys.exit(f"dev.py needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not argv or argv[0] not in COMMANDS:
        sys.exit(__doc__)
    command, args = argv[0], argv[1:]
    os.chdir(ROOT)
    ensure_venv()
    return COMMANDS[command](args)


def ensure_venv():
    if not PYTHON.exists():
        print(f"Creating {VENV.name} ...", flush=True)
        if call([sys.executable, "-m", "venv", str(VENV)]):
            shutil.rmtree(VENV, ignore_errors=True)
            sys.exit("could not create .venv (on Debian or Ubuntu: apt install python3-venv)")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    print("Installing the project into .venv (pip install -e '.[test]') ...", flush=True)
    pip = [PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run_or_exit([*pip, "-e", ".[test]"])
    STAMP.write_text(digest + "\n")


def venv_env(**extra):
    """The environment with .venv first on PATH, so `celery`, `ruff` etc. are the project's."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "VIRTUAL_ENV": str(VENV), "PATH": path, **extra}


def call(cmd, **kwargs):
    """Run a command and return its exit status, leaving Ctrl-C to it.

    The child gets Ctrl-C from the terminal itself; waiting for it (instead of killing it, as
    subprocess.call does) lets pytest stop the workers it started. Then this script stops too.
    """
    child = subprocess.Popen([str(c) for c in cmd], **kwargs)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        sys.exit(130)
    return code


def run_or_exit(cmd, **kwargs):
    code = call(cmd, **kwargs)
    if code:
        sys.exit(f"failed ({code}): {' '.join(map(str, cmd))}")


def demo(args):
    if args:
        sys.exit("usage: python3 dev.py demo")
    with socket.socket() as sock:
        if sock.connect_ex(DEMO_ADDRESS) == 0:
            sys.exit("Something already listens on 127.0.0.1:8000; stop it and try again.")
    env = venv_env(PYTHONUNBUFFERED="1")
    run_or_exit([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
    run_or_exit([PYTHON, "manage.py", "demo_user"], env=env)
    print("Starting web, worker, beat and the sample jobs (Ctrl-C stops them all) ...", flush=True)
    # Replace this process, so that Ctrl-C reaches honcho, which stops every process it started.
    args = ["-f", "example_project/Procfile", "-d", str(ROOT), "start"]
    os.execve(PYTHON, [str(PYTHON), "-c", HONCHO, *args], env)


def test(args):
    print(f"database: {describe('DATABASE_URL', 'sqlite (var/test-db.sqlite3)')}")
    print(f"broker:   {describe('CELERY_BROKER_URL', 'filesystem (var/test-broker/)')}")
    env = venv_env()
    steps = [
        ("ruff check", [BIN / "ruff", "check", "."]),
        ("ruff format", [BIN / "ruff", "format", "--check", "."]),
        ("migrations", [PYTHON, "manage.py", "makemigrations", "--check", "--dry-run"]),
        ("pytest", [PYTHON, "-m", "pytest", *args]),
    ]
    failed, status = [], 0
    for name, cmd in steps:
        print(f"\n--- {name}: {' '.join(str(c) for c in cmd)}", flush=True)
        code = call(cmd, env=env)
        if code:  # pytest's 5 (nothing collected) is a failure too, and is passed on as such
            failed.append(f"{name} (exit {code}{', no tests collected' if code == 5 else ''})")
            status = code
    print("\nFAILED: " + "; ".join(failed) if failed else "\nOK: ruff, migrations, pytest")
    return status


def describe(variable, default):
    value = os.environ.get(variable)
    if not value:
        return f"{default}, {variable} unset"
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", value)  # hide a password


COMMANDS = {"demo": demo, "test": test}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
