"""On a machine with CUDA devices: does a real GPU worker pin each child to its own device?

    .venv/bin/python bench/gpu_check.py [--jobs N]

Starts `celery worker -Q gpu -c <devices>` (a SQLite file and the filesystem transport of its
own, so no server is needed; the devices come from nvidia-smi, as a worker finds them when
JOBKIT_GPU_DEVICES is unset) and runs N `CudaProbeJob`s. Each reports, through PyTorch in its
child, how many devices it sees and which (name, UUID), and how long its matrix product took
on a model held with `self.resource`: the first job of a child loads it, the later ones reuse
it. Prints one line per job and a verdict: every child saw exactly one device, no two children
the same one, every device used.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN = f"gpu-check-{uuid.uuid4().hex[:8]}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / f'{RUN}.sqlite3'}")
os.environ.setdefault("JOBKIT_BROKER_DIR", RUN)  # the filesystem transport's own folder

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from bench.jobs import CudaProbeJob  # noqa: E402
from django_jobkit.conf import jobkit_settings  # noqa: E402
from django_jobkit.execution import gpu  # noqa: E402
from django_jobkit.models import JobResult  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=12)
    args = parser.parse_args()
    devices, source = gpu.detect_devices()
    if not devices:
        print(f"no CUDA device here ({source})")
        return 2
    call_command("migrate", verbosity=0)
    log = ROOT / "var" / f"{RUN}.log"
    queue = jobkit_settings.GPU_QUEUE
    command = [sys.executable, "-m", "celery", "-A", "example_project", "worker", "-Q", queue]
    command += ["-c", str(len(devices)), "-l", "info", "--without-gossip", "--without-mingle"]
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        requests = [CudaProbeJob().run_in_worker() for _ in range(args.jobs)]
        results = [request.wait(600) for request in requests]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(120)
    failed = [r for r in results if r.status != JobResult.Status.SUCCESSFUL]
    for result in failed:
        print(f"FAILED {result.status}: {result.error}")
    seen = [r.return_value for r in results if r not in failed]
    print(f"devices from {source}: {', '.join(devices)}; -c {len(devices)}; {len(seen)} jobs")
    per_pid: dict[int, list[dict]] = defaultdict(list)
    for job in seen:
        per_pid[job["pid"]].append(job)
        print(
            f"pid {job['pid']}: CUDA_VISIBLE_DEVICES={job['visible']} sees {job['count']} "
            f"device(s): {job['name']} {job['uuid']}; {job['seconds'] * 1000:.1f} ms"
        )
    for pid, jobs in per_pid.items():
        times = [j["seconds"] * 1000 for j in jobs]
        later = f", later {min(times[1:]):.1f}-{max(times[1:]):.1f} ms" if len(times) > 1 else ""
        print(f"child {pid}: first job {times[0]:.1f} ms (loads the model){later}")
    one_each = all(job["count"] == 1 for job in seen)
    owners = {pid: {j["uuid"] for j in jobs} for pid, jobs in per_pid.items()}
    distinct = all(len(u) == 1 for u in owners.values()) and len(
        {next(iter(u)) for u in owners.values()}
    ) == len(owners)
    all_used = len({j["visible"] for j in seen}) == len(devices)
    verdict = one_each and distinct and all_used and not failed
    print(
        f"{'PASS' if verdict else 'FAIL'}: one device per child {one_each}, children on "
        f"distinct devices {distinct}, every device used {all_used}"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
