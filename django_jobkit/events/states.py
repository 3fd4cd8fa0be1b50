"""What each followed job came to, read from the records in the order a job lives through
them: waiting requests, then running processes, then results. A job that moves on between
two of the reads is found in the later one, so no reading misses it.

A job is named by the uuid of one of its requests; when that attempt ended with a retry, the
job is what its retry came to, and so on along the chain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import InvalidEventsRequest
from ..models import JobProcess, JobRequest, JobResult

#: Most jobs one stream follows: a page's worth, and a bounded `IN (...)` list.
MAX_JOBS = 200

#: Retries followed in one reading, so that a long chain cannot hold a poll.
MAX_HOPS = 10

WAITING = "waiting"
RUNNING = "running"
#: Neither waiting, running nor ended: never enqueued here, or its result was pruned.
UNKNOWN = "unknown"


def parse_jobs(raw: str) -> list[uuid.UUID]:
    """The request uuids of `?jobs=<uuid>,<uuid>...`, each once, in the order given."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise InvalidEventsRequest("give the jobs to follow: ?jobs=<request uuid>,<request uuid>")
    if len(parts) > MAX_JOBS:
        raise InvalidEventsRequest(
            f"{len(parts)} jobs asked for; one stream follows at most {MAX_JOBS}"
        )
    uuids: list[uuid.UUID] = []
    for part in parts:
        try:
            value = uuid.UUID(part)
        except ValueError:
            raise InvalidEventsRequest(f"{part!r} in ?jobs= is not a request uuid") from None
        if value not in uuids:
            uuids.append(value)
    return uuids


@dataclass(frozen=True)
class JobState:
    """One event's data: a job as a page shows it."""

    uuid: str
    status: str  # waiting, running, unknown, or a JobResult status
    progress: float | None
    message: str
    final: bool
    #: Every item the attempt emitted so far (`Job.emit`); the stream sends only new ones.
    output: tuple[Any, ...] = field(default=())

    def as_json(self, output_from: int = 0) -> dict[str, Any]:
        """The event's data, with the items from `output_from` on (the page has the rest)."""
        return {
            "uuid": self.uuid,
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "final": self.final,
            "output": list(self.output[output_from:]),
            "output_from": output_from,
        }


class Follower:
    """Reads the state of a fixed set of jobs, following each along its retries."""

    def __init__(self, uuids: list[uuid.UUID]) -> None:
        self.uuids = uuids
        self.heads: dict[uuid.UUID, uuid.UUID] = {u: u for u in uuids}  # job -> its attempt now
        self.finals: dict[uuid.UUID, JobState] = {}

    def read(self) -> list[JobState]:
        """Every job's state now, in the order the jobs were given."""
        states: dict[uuid.UUID, JobState] = dict(self.finals)
        open_jobs = [u for u in self.uuids if u not in self.finals]
        for _ in range(MAX_HOPS):
            if not open_jobs:
                break
            heads = [self.heads[u] for u in open_jobs]
            waiting = JobRequest.objects.waiting_among(heads)
            running = JobProcess.objects.progress_of(heads)
            ended = JobResult.objects.ends_of(heads)
            retried = []
            for job in open_jobs:
                head = self.heads[job]
                if head in waiting:
                    states[job] = JobState(str(job), WAITING, None, "", False)
                elif head in running:
                    fraction, message, output = running[head]
                    states[job] = JobState(
                        str(job), RUNNING, fraction, message, False, tuple(output or ())
                    )
                elif head in ended:
                    status, fraction, message, output, retry = ended[head]
                    if retry is not None:
                        self.heads[job] = retry
                        retried.append(job)
                        continue
                    states[job] = self.finals[job] = JobState(
                        str(job), status, fraction, message, True, tuple(output or ())
                    )
                else:
                    states[job] = self.finals[job] = JobState(str(job), UNKNOWN, None, "", True)
            open_jobs = retried
        for job in open_jobs:  # still moving along a long chain: waiting on the next attempt
            states[job] = JobState(str(job), WAITING, None, "", False)
        return [states[u] for u in self.uuids]

    def done(self) -> bool:
        return len(self.finals) == len(self.uuids)
