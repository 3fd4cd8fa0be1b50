#!/usr/bin/env python3
"""The project's commands; need only Python 3.11+ (no make, no database or broker server).

    python3 dev.py demo          run the example project: web, worker, beat, sample jobs
    python3 dev.py test [ARGS]   ruff, mypy, import layers, migrations check, the docs build
                                 and pytest (ARGS go to pytest)
    python3 dev.py docs          build the documentation site into var/docs-html/

Both create .venv when it is missing and install the project into it whenever pyproject.toml
changed since the last install. DATABASE_URL and CELERY_BROKER_URL select the database and
broker (unset: SQLite and kombu's filesystem transport under var/).

JOBKIT_PYTHON and JOBKIT_DJANGO select another interpreter and Django series, each pair in a
venv of its own beside .venv (JOBKIT_PYTHON=3.13 JOBKIT_DJANGO=6.0: .venv-py3.13-django6.0):
JOBKIT_PYTHON is a version (python3.13 on PATH, else the newest 3.13.x under pyenv), a command
or a path; JOBKIT_DJANGO a series such as 6.0, installed as Django==6.0.*.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
STAMP_NAME = ".dev-installed"  # in a venv: the sha256 of what was last installed there
VERSION_PATTERN = re.compile(r"\d+\.\d+")  # a release series: 3.13, 6.0
PRINT_VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"
DEMO_ADDRESS = ("127.0.0.1", 8000)
DOCS_OUTPUT = Path("var") / "docs-html"
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
    venv = Venv.selected(os.environ)
    venv.ensure()
    return COMMANDS[command](venv, args)


class Venv:
    """A virtual environment with the project installed: .venv, or one per interpreter and Django.

    Each pair has a venv of its own, so switching between them never reinstalls anything.
    """

    def __init__(self, path, base_python, django_series=""):
        self.path = path
        self.bin = path / "bin"
        self.python = self.bin / "python"
        self.base_python = base_python  # the interpreter that creates the venv
        self.django_series = django_series  # "" : the newest Django pyproject.toml allows

    @classmethod
    def selected(cls, environ):
        requested, django = environ.get("JOBKIT_PYTHON", ""), environ.get("JOBKIT_DJANGO", "")
        if django and not VERSION_PATTERN.fullmatch(django):
            sys.exit(f"JOBKIT_DJANGO={django!r}: give a Django release series such as 6.0")
        if not requested and not django:
            return cls(ROOT / ".venv", sys.executable)
        base_python = resolve_python(requested) if requested else sys.executable
        version = python_version(base_python)
        if version is None:
            sys.exit(f"JOBKIT_PYTHON={requested!r}: {base_python} does not run")
        if tuple(map(int, version.split("."))) < (3, 11):
            sys.exit(f"JOBKIT_PYTHON={requested!r} is Python {version}; the project needs 3.11+")
        name = f".venv-py{version}" + (f"-django{django}" if django else "")
        return cls(ROOT / name, base_python, django)

    def ensure(self):
        name = self.path.name
        if not self.python.exists():
            print(f"Creating {name} with {self.base_python} ...", flush=True)
            if call([self.base_python, "-m", "venv", str(self.path)]):
                shutil.rmtree(self.path, ignore_errors=True)
                sys.exit(f"could not create {name} (on Debian or Ubuntu: apt install python3-venv)")
        requirements = ["-e", ".[test]"]
        if self.django_series:
            requirements.append(f"Django=={self.django_series}.*")
        pyproject = (ROOT / "pyproject.toml").read_bytes()
        digest = hashlib.sha256(pyproject + " ".join(requirements).encode()).hexdigest()
        stamp = self.path / STAMP_NAME
        if stamp.exists() and stamp.read_text().strip() == digest:
            return
        shown = " ".join(f"'{r}'" if "[" in r or "*" in r else r for r in requirements)
        print(f"Installing the project into {name} (pip install {shown}) ...", flush=True)
        pip = [self.python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        run_or_exit([*pip, *requirements])
        stamp.write_text(digest + "\n")

    def env(self, **extra):
        """The environment with the venv first on PATH: `celery`, `ruff` etc. are the project's."""
        path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "VIRTUAL_ENV": str(self.path), "PATH": path, **extra}

    def describe(self):
        """`Python 3.13.0, Django 6.0.3 (.venv-py3.13-django6.0)`: what the tests run on."""
        script = "import sys, django; print(sys.version.split()[0], django.get_version())"
        found = subprocess.run([self.python, "-c", script], capture_output=True, text=True)
        python, _, django = found.stdout.strip().partition(" ")
        return f"Python {python or '?'}, Django {django or '?'} ({self.path.name})"


def resolve_python(requested):
    """The interpreter JOBKIT_PYTHON names: a version, a command on PATH or a path."""
    if VERSION_PATTERN.fullmatch(requested):
        found = find_python(requested)
        if found is None:
            sys.exit(
                f"JOBKIT_PYTHON={requested}: no working python{requested} on PATH or under "
                f"{pyenv_root() / 'versions'} (install one, e.g. `pyenv install {requested}`)"
            )
        return found
    found = shutil.which(requested)
    if found is None:
        sys.exit(f"JOBKIT_PYTHON={requested!r}: no such command or file")
    return found


def find_python(version):
    """A python<version> that runs: on PATH first, then the newest <version>.x pyenv installed.

    A pyenv shim on PATH does not run unless its version is selected, so each candidate is
    tried. `.ci/run` calls this too, so that CI and dev.py look in the same places.
    """
    candidates = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    patch = re.compile(re.escape(version) + r"\.(\d+)")
    versions = pyenv_root() / "versions"
    patches = sorted(
        (int(found.group(1)), d)
        for d in (versions.iterdir() if versions.is_dir() else ())
        if (found := patch.fullmatch(d.name))
    )
    candidates += [str(d / "bin" / f"python{version}") for _, d in reversed(patches)]
    return next((c for c in candidates if python_version(c) == version), None)


def pyenv_root():
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def python_version(python):
    """`3.13` for an interpreter that runs, None for one that does not (or is not there)."""
    try:
        found = subprocess.run([python, "-c", PRINT_VERSION], capture_output=True, text=True)
    except OSError:
        return None
    return found.stdout.strip() if found.returncode == 0 else None


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


def demo(venv, args):
    if args:
        sys.exit("usage: python3 dev.py demo")
    with socket.socket() as sock:
        if sock.connect_ex(DEMO_ADDRESS) == 0:
            sys.exit("Something already listens on 127.0.0.1:8000; stop it and try again.")
    env = venv.env(PYTHONUNBUFFERED="1")
    run_or_exit([venv.python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
    run_or_exit([venv.python, "manage.py", "demo_user"], env=env)
    print("Starting web, worker, beat and the sample jobs (Ctrl-C stops them all) ...", flush=True)
    # Replace this process, so that Ctrl-C reaches honcho, which stops every process it started.
    args = ["-f", "example_project/Procfile", "-d", str(ROOT), "start"]
    os.execve(venv.python, [str(venv.python), "-c", HONCHO, *args], env)


def docs_build(venv, output):
    """Sphinx over docs/, from scratch (-E), with warnings as errors, into `output`.

    -W makes any warning (a broken link, a README section renamed, a reference block that no
    longer matches the code) fail the build; --keep-going reports them all; -n also warns
    about references to Python objects that do not exist.
    """
    options = ["-E", "-W", "--keep-going", "-n", "-q", "-b", "html"]
    return [venv.python, "-m", "sphinx", *options, "docs", str(output)]


def docs(venv, args):
    if args:
        sys.exit("usage: python3 dev.py docs")
    run_or_exit(docs_build(venv, DOCS_OUTPUT), env=venv.env())
    print(f"The site is in {DOCS_OUTPUT}/ (open {DOCS_OUTPUT / 'index.html'}).")


def test(venv, args):
    print(f"python:   {venv.describe()}")
    print(f"database: {describe('DATABASE_URL', 'sqlite (var/test-db.sqlite3)')}")
    print(f"broker:   {describe('CELERY_BROKER_URL', 'filesystem (var/test-broker/)')}")
    env = venv.env()
    # The docs step builds into a folder of its own: CI runs combinations side by side in one
    # checkout, and two builds into var/docs-html at once would mix their files.
    docs_output = tempfile.TemporaryDirectory(prefix="jobkit-docs-")
    steps = [
        ("ruff check", [venv.bin / "ruff", "check", "."]),
        ("ruff format", [venv.bin / "ruff", "format", "--check", "."]),
        # A cache per venv: the Django plugin's view of the models depends on the Django there.
        # (MYPY_CACHE_DIR, mypy's own variable, wins: .ci/run gives each combination its own.)
        ("mypy", [venv.bin / "mypy", "--cache-dir", mypy_cache(venv)]),
        # The layers and the no-cycles rule: [tool.importlinter] in pyproject.toml.
        ("import layers", [venv.bin / "lint-imports", "--no-logo"]),
        ("migrations", [venv.python, "manage.py", "makemigrations", "--check", "--dry-run"]),
        # The documentation site, warnings as errors (`python3 dev.py docs` keeps a copy).
        ("docs", docs_build(venv, docs_output.name)),
        ("pytest", [venv.python, "-m", "pytest", *args]),
    ]
    failed, status = [], 0
    with docs_output:
        for name, cmd in steps:
            print(f"\n--- {name}: {' '.join(str(c) for c in cmd)}", flush=True)
            code = call(cmd, env=env)
            if code:  # pytest's 5 (nothing collected) is a failure too, and is passed on as such
                failed.append(f"{name} (exit {code}{', no tests collected' if code == 5 else ''})")
                status = code
    print("\nFAILED: " + "; ".join(failed) if failed else f"\nOK: {', '.join(n for n, _ in steps)}")
    return status


def mypy_cache(venv):
    return os.environ.get("MYPY_CACHE_DIR") or venv.path / ".mypy_cache"


def describe(variable, default):
    value = os.environ.get(variable)
    if not value:
        return f"{default}, {variable} unset"
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", value)  # hide a password


COMMANDS = {"demo": demo, "test": test, "docs": docs}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
