"""One GPU per worker child: which device each child of a GPU worker owns, set before any job
runs, and what a job sees of it (`Job.gpu`, `Job.device`).

A worker that consumes `JOBKIT_GPU_QUEUE` plans its devices once, in its main process, when
it starts (`worker_init`): the list comes from `JOBKIT_GPU_DEVICES` (the setting, else the
environment variable), else from the worker's own `CUDA_VISIBLE_DEVICES`, else from
`nvidia-smi` run in a subprocess. Nothing here imports a CUDA framework: a parent process that
initialises CUDA breaks every child forked from it (pytorch#68861, celery#3402).

Each prefork child then pins itself in `worker_process_init`, which must do no I/O (a slow
initialiser gets children killed in a loop): it only sets `CUDA_VISIBLE_DEVICES` (and
`CUDA_DEVICE_ORDER=PCI_BUS_ID`, so that CUDA numbers devices as nvidia-smi does) from the
plan it inherited and its billiard pool index. The index is stable: a child replaced after
`--max-tasks-per-child` or a crash is given the index it replaces, and so the same device.
Child *i* owns device `i // JOBKIT_GPU_JOBS_PER_DEVICE`; a child past the slots (grown by
`--autoscale`) sees no device at all (an empty `CUDA_VISIBLE_DEVICES`), so a GPU job there
fails at once instead of running on a device another child owns.

The solo pool runs jobs in the main process, which is pinned to the first device. The
threads, gevent and eventlet pools run many jobs in one process, which one environment
variable cannot pin: a GPU worker on them is refused unless it has one slot of concurrency.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billiard.process import current_process
from celery.concurrency import get_implementation
from celery.signals import worker_init, worker_process_init

from ..conf import jobkit_settings
from ..exceptions import InvalidGPUDevices, NoGPUAssigned
from .timelimits import pool_name

logger = logging.getLogger("django_jobkit.worker")

ENVIRONMENT_VARIABLE = "JOBKIT_GPU_DEVICES"
#: Pools that run each job in a process of its own, which can be pinned.
PINNABLE_POOLS = ("prefork", "solo")
_ENTRY = re.compile(r"^(\d+|(GPU|MIG)-[0-9A-Za-z-]+)$")


@dataclass(frozen=True)
class Pin:
    """The device one worker child owns, or why it owns none."""

    child: int
    entry: str | None  #: as CUDA_VISIBLE_DEVICES takes it: an index or a GPU UUID
    position: int | None = None  #: its place in the worker's device list
    reason: str = ""

    @property
    def gpu(self) -> int | None:
        """The device's index: as configured, or its place in the list for a UUID."""
        if self.entry is None:
            return None
        return int(self.entry) if self.entry.isdigit() else self.position

    @property
    def device(self) -> str | None:
        """What frameworks take: the child sees its one device as the first."""
        return None if self.entry is None else "cuda:0"


@dataclass(frozen=True)
class Plan:
    """A GPU worker's devices, where they came from, and how many children share one."""

    devices: tuple[str, ...]
    per_device: int
    source: str

    @property
    def slots(self) -> int:
        return len(self.devices) * self.per_device

    def pin(self, child: int) -> Pin:
        position = child // self.per_device
        if position < len(self.devices):
            return Pin(child, self.devices[position], position)
        if not self.devices:
            reason = f"this worker found no GPU ({self.source})"
        else:
            reason = (
                f"worker child {child} is past the {self.slots} device slots "
                f"({len(self.devices)} devices x JOBKIT_GPU_JOBS_PER_DEVICE={self.per_device}),"
                " e.g. grown by --autoscale"
            )
        return Pin(child, None, reason=reason)


def parse_devices(value: str | list[str] | tuple[str, ...], source: str) -> tuple[str, ...]:
    """Device entries from "0,1" or a list: indices or GPU/MIG UUIDs, each once."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    entries = tuple(item.strip() for item in items if item.strip())
    for entry in entries:
        if not _ENTRY.match(entry):
            raise InvalidGPUDevices(
                f"{source}: {entry!r} is neither a device index (0, 1, ...) nor a GPU UUID "
                "(GPU-..., as `nvidia-smi -L` prints them)"
            )
    if len(set(entries)) != len(entries):
        raise InvalidGPUDevices(f"{source}: {value!r} names a device twice")
    return entries


def detect_devices(environ: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], str]:
    """The devices of this machine, and how they were found: the worker's own
    CUDA_VISIBLE_DEVICES when set, else nvidia-smi's list (a subprocess, never CUDA)."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        source = "the worker's CUDA_VISIBLE_DEVICES"
        return parse_devices(environ["CUDA_VISIBLE_DEVICES"], source), source
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return (), "no JOBKIT_GPU_DEVICES and no nvidia-smi on the PATH"
    try:
        listing = subprocess.run(
            [binary, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return (), f"nvidia-smi failed: {exc}"
    return parse_devices(listing.replace("\n", ","), "nvidia-smi"), "nvidia-smi"


def plan(environ: Mapping[str, str] | None = None) -> Plan:
    """The devices a GPU worker may use, from the setting, the environment, or detection."""
    environ = os.environ if environ is None else environ
    per_device = jobkit_settings.GPU_JOBS_PER_DEVICE
    if per_device < 1:
        raise InvalidGPUDevices(f"JOBKIT_GPU_JOBS_PER_DEVICE={per_device}: it must be 1 or more")
    configured = jobkit_settings.GPU_DEVICES
    if configured is not None:
        source = "the JOBKIT_GPU_DEVICES setting"
        return Plan(parse_devices(configured, source), per_device, source)
    if environ.get(ENVIRONMENT_VARIABLE) is not None:
        source = "the JOBKIT_GPU_DEVICES environment variable"
        return Plan(parse_devices(environ[ENVIRONMENT_VARIABLE], source), per_device, source)
    devices, source = detect_devices(environ)
    return Plan(devices, per_device, source)


def check_children(worker_plan: Plan, pool: str, children: int) -> None:
    """Refuse a GPU worker whose children cannot each own a device slot."""
    if pool not in PINNABLE_POOLS and children > 1:
        raise InvalidGPUDevices(
            f"the {pool} pool runs {children} jobs in one process, which cannot be pinned to "
            f"one device each: run the {jobkit_settings.GPU_QUEUE!r} queue on -P prefork "
            "(one child per device) or -P solo"
        )
    if worker_plan.devices and children > worker_plan.slots:
        raise InvalidGPUDevices(
            f"this worker would start {children} children for {worker_plan.slots} device slots "
            f"({len(worker_plan.devices)} devices from {worker_plan.source} x "
            f"JOBKIT_GPU_JOBS_PER_DEVICE={worker_plan.per_device}): start it with "
            f"-c {worker_plan.slots}, or raise JOBKIT_GPU_JOBS_PER_DEVICE if the jobs fit "
            "on one device together"
        )


#: The plan of this worker, noted in its main process; prefork children inherit it.
_plan: Plan | None = None
#: This process's device (None outside a GPU worker).
_pin: Pin | None = None


def current_pin() -> Pin | None:
    return _pin


def current_entry() -> str:
    """This process's device as CUDA_VISIBLE_DEVICES names it; "" where none is pinned."""
    return (_pin.entry if _pin is not None else None) or ""


def apply_pin(pin: Pin, environ: Any = None) -> None:
    """Pin this process: its CUDA_VISIBLE_DEVICES names its one device, or none at all."""
    global _pin
    environ = os.environ if environ is None else environ
    environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    environ["CUDA_VISIBLE_DEVICES"] = pin.entry or ""
    _pin = pin


def consumed_queues(worker: Any) -> set[str]:
    queues = worker.app.amqp.queues
    return set(queues.consume_from or queues)


def children_at_start(worker: Any) -> tuple[int, int | None]:
    """How many children the pool starts with, and the most --autoscale may grow it to."""
    autoscale = worker.options.get("autoscale") if hasattr(worker, "options") else None
    if isinstance(autoscale, str):
        most, _, least = autoscale.partition(",")
        return int(least or 0) or 1, int(most)
    if autoscale:
        most, least = autoscale
        return int(least) or 1, int(most)
    return int(worker.concurrency or 1), None


@worker_init.connect(dispatch_uid="django_jobkit.gpu.plan_worker")
def plan_worker(sender: Any = None, **kwargs: Any) -> None:
    """In the main process of a worker that consumes the GPU queue: plan, check, tell."""
    global _plan
    if sender is None or jobkit_settings.GPU_QUEUE not in consumed_queues(sender):
        return
    pool = pool_name(get_implementation(sender.pool_cls))
    children, most = children_at_start(sender)
    try:
        worker_plan = plan()
        check_children(worker_plan, pool, children)
    except InvalidGPUDevices as exc:
        logger.error("GPU worker not started: %s", exc)
        raise SystemExit(f"GPU worker not started: {exc}") from exc
    _plan = worker_plan
    if pool != "prefork":
        apply_pin(worker_plan.pin(0))  # the jobs run in this process
    if not worker_plan.devices:
        logger.warning(
            "This worker consumes the %r queue but has no GPU (%s): GPU jobs here end ERRORED "
            "unless their class sets allow_cpu = True. Set JOBKIT_GPU_DEVICES to the devices "
            "to use.",
            jobkit_settings.GPU_QUEUE,
            worker_plan.source,
        )
        return
    logger.info(
        "GPU worker: devices %s from %s, %d job(s) per device, %d children",
        ", ".join(worker_plan.devices),
        worker_plan.source,
        worker_plan.per_device,
        children,
    )
    if most is not None and most > worker_plan.slots:
        logger.warning(
            "--autoscale may grow this worker to %d children but it has %d device slots: the "
            "children past them get no device, and GPU jobs they take end ERRORED",
            most,
            worker_plan.slots,
        )


def pool_index() -> int:
    """This prefork child's index in its pool (stable: a replacement takes the index of the
    child it replaces); 0 outside a pool."""
    return int(getattr(current_process(), "index", 0) or 0)


@worker_process_init.connect(dispatch_uid="django_jobkit.gpu.pin_child")
def pin_child(**kwargs: Any) -> None:
    """In each prefork child, before any job: set its device. No I/O here."""
    if _plan is not None:
        apply_pin(_plan.pin(pool_index()))


def require(allow_cpu: bool, job_name: str) -> None:
    """Raise NoGPUAssigned for a GPU job that may not run where no device is pinned."""
    pin = _pin
    if allow_cpu or (pin is not None and pin.entry is not None):
        return
    why = pin.reason if pin is not None else "this worker does not consume the GPU queue"
    raise NoGPUAssigned(
        f"no GPU assigned to this worker ({why}) for {job_name}: run it on a worker started "
        f"with -Q {jobkit_settings.GPU_QUEUE} on a machine with a GPU (JOBKIT_GPU_DEVICES "
        "names the devices), or set allow_cpu = True on the class to let it run on the CPU"
    )
