"""ffmpeg and ffprobe, run as subprocesses that never outlive the job that started them.

A cancelled job's worker child gets SIGTERM, which billiard raises as SystemExit wherever the
child is (usually blocked reading ffmpeg's progress): `run` then kills ffmpeg and deletes the
partial output, so a cancelled transcode leaves nothing behind. A child killed outright
(SIGKILL, a hard time limit) cannot clean up, so ffmpeg is also started with Linux's
parent-death signal: it dies with the child instead of running on as an orphan.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any

#: prctl(2) option: the signal this process gets when its parent thread dies.
PR_SET_PDEATHSIG = 1


class MediaToolError(RuntimeError):
    """ffmpeg or ffprobe is missing, or failed on this input."""


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MediaToolError(f"{name} is not installed (Debian: apt-get install ffmpeg)")
    return found


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON description of `path` (format and streams)."""
    done = subprocess.run(
        [
            binary("ffprobe"),
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_die_with_parent,
    )
    if done.returncode != 0:
        raise MediaToolError(f"ffprobe could not read {path.name}: {done.stderr.strip()}")
    return dict(json.loads(done.stdout))


def make_test_clip(
    path: Path, seconds: float, size: str = "320x240", audio: Path | None = None
) -> Path:
    """ffmpeg's test pattern with a tone (or with `audio`, padded), `seconds` long, in MPEG-4
    Part 2: cheap to make, worth transcoding. The sample clip, the tests and the bench use it."""
    sound = (
        ["-i", str(audio)]
        if audio
        else ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    )
    subprocess.run(
        [binary("ffmpeg"), "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25", *sound,
         "-af", "apad", "-t", str(seconds), "-c:v", "mpeg4", "-q:v", "5", "-c:a", "aac", str(path)],
        check=True,
        timeout=600,
        preexec_fn=_die_with_parent,
    )  # fmt: skip
    return path


@cache
def encoders() -> frozenset[str]:
    """The encoders this ffmpeg build has."""
    listed = subprocess.run(
        [binary("ffmpeg"), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30
    ).stdout
    names = (
        line.split()[1] for line in listed.splitlines() if line[:1] == " " and len(line.split()) > 1
    )
    return frozenset(names)


def video_encoder(gpu: int | None) -> str:
    """NVENC on a pinned GPU when this ffmpeg has it, else libx264."""
    if gpu is not None and "h264_nvenc" in encoders():
        return "h264_nvenc"
    return "libx264"


@dataclass
class Progress:
    """Reads ffmpeg's `-progress pipe:1` blocks (key=value lines, each block ended by
    `progress=continue` or `progress=end`) into a fraction of `duration` seconds."""

    duration: float | None
    values: dict[str, str] = field(default_factory=dict)

    def feed(self, line: str) -> float | None:
        """The fraction done when `line` ends a block, else None."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self.values[key] = value
        if key != "progress":
            return None
        if value == "end":
            return 1.0
        return self.fraction()

    def seconds(self) -> float | None:
        # out_time_us is microseconds; so is out_time_ms, despite its name (an ffmpeg quirk).
        for key in ("out_time_us", "out_time_ms"):
            raw = self.values.get(key, "")
            if raw.lstrip("-").isdigit():
                return max(int(raw), 0) / 1_000_000
        return None

    def fraction(self) -> float | None:
        done = self.seconds()
        if done is None or not self.duration:
            return None
        return min(done / self.duration, 1.0)


def _remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def partial_name(final: Path) -> Path:
    """Where ffmpeg writes until it has finished: same folder, same extension."""
    return final.with_name(f".{final.stem}.partial{final.suffix}")


def run(
    args: list[str],
    final: Path,
    duration: float | None,
    report: Callable[[float], None] | None = None,
) -> Path:
    """Run `ffmpeg ARGS PARTIAL` with progress on stdout, reporting fractions; rename the
    partial file to `final` when ffmpeg succeeds. On any failure or interruption (a cancel's
    SystemExit included) ffmpeg is killed and the partial file removed."""
    partial = partial_name(final)
    _remove(partial)
    command = [
        binary("ffmpeg"),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *args,
        "-progress",
        "pipe:1",
        "-nostats",
        str(partial),
    ]
    with _started(command) as proc:
        try:
            assert proc.stdout is not None
            reader = Progress(duration)
            for line in proc.stdout:
                fraction = reader.feed(line)
                if fraction is not None and report is not None:
                    report(fraction)
            code = proc.wait()
            if code != 0:
                error = proc.stderr.read().strip() if proc.stderr else ""
                raise MediaToolError(f"ffmpeg failed (exit {code}): {error[-2000:]}")
            os.replace(partial, final)
        finally:
            _remove(partial)
    return final


@contextmanager
def _started(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def pcm16k(path: Path) -> Iterator[IO[bytes]]:
    """The audio of `path` as 16 kHz mono signed 16-bit PCM, streamed from ffmpeg."""
    command = [
        binary("ffmpeg"),
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(path),
        "-vn",
        "-ac",
        "1",
        "-ar",
        "16000",
        "-f",
        "s16le",
        "-",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
    try:
        assert proc.stdout is not None
        yield proc.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
