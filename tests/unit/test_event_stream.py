"""The event stream's rhythm, on a made-up clock: changes only, keep-alives in silence, an end
after the longest duration or once every job is final."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from django_jobkit.events.states import InvalidEventsRequest, JobState, parse_jobs
from django_jobkit.events.stream import Stream

A, B = uuid.UUID(int=1), uuid.UUID(int=2)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedFollower:
    """Hands out the states a test sets, as the real one reads them from the records."""

    def __init__(self, uuids: list[uuid.UUID]) -> None:
        self.uuids = uuids
        self.states = [JobState(str(u), "waiting", None, "", False) for u in uuids]

    def read(self) -> list[JobState]:
        return list(self.states)

    def done(self) -> bool:
        return all(s.final for s in self.states)


@pytest.fixture
def rhythm(settings: Any) -> None:
    settings.JOBKIT_EVENTS_KEEPALIVE = 15
    settings.JOBKIT_EVENTS_MAX_DURATION = 55
    settings.JOBKIT_EVENTS_POLL_INTERVAL = 1


def test_the_first_reading_sends_every_job_then_only_changes(rhythm):
    follower, clock = ScriptedFollower([A, B]), Clock()
    stream = Stream(follower, clock)  # type: ignore[arg-type]
    assert stream.opening().startswith(b"retry: ")
    first = stream.step()
    assert first.count(b"data: ") == 2 and b'"status": "waiting"' in first
    assert stream.step() == b""  # nothing changed, not yet time for a keep-alive
    follower.states[1] = JobState(str(B), "running", 0.5, "half", False)
    changed = stream.step()
    assert changed.count(b"data: ") == 1 and str(B).encode() in changed and b"0.5" in changed
    assert stream.pause() == 1


def test_a_quiet_stream_sends_a_keep_alive_comment_and_ends_after_its_longest_duration(rhythm):
    clock = Clock()
    stream = Stream(ScriptedFollower([A]), clock)  # type: ignore[arg-type]
    stream.step()
    clock.now += 14
    assert stream.step() == b""
    clock.now += 1.5
    assert stream.step() == b": keep-alive\n\n"
    clock.now += 40
    stream.step()
    assert stream.pause() is None  # 55 s: the browser reconnects after `retry:`


def test_the_stream_ends_early_once_every_job_is_final(rhythm):
    follower = ScriptedFollower([A])
    stream = Stream(follower, Clock())  # type: ignore[arg-type]
    stream.step()
    follower.states[0] = JobState(str(A), "SUCCESSFUL", 1.0, "done", True)
    last = stream.step()
    assert b'"final": true' in last and last.endswith(b"event: end\ndata: {}\n\n")
    assert stream.pause() is None


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [("", "give the jobs"), ("nope", "'nope' in ?jobs= is not a request uuid")],
)
def test_a_bad_jobs_parameter_is_named(raw, complaint):
    with pytest.raises(InvalidEventsRequest, match=re.escape(complaint)):
        parse_jobs(raw)


def test_too_many_jobs_are_refused_and_repeats_are_followed_once():
    with pytest.raises(InvalidEventsRequest, match="at most 200"):
        parse_jobs(",".join(str(uuid.UUID(int=i)) for i in range(201)))
    assert parse_jobs(f"{A}, {B},{A}") == [A, B]
