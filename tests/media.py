"""Inputs for the media app's tests, made here: ffmpeg's lavfi test sources and espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from example_project.media.ffmpeg import make_test_clip
from example_project.media.models import MediaFile

#: Two sentences PocketSphinx hears right from espeak-ng (checked with these voices).
SENTENCES = (("en-us+f2", "the weather is nice today"), ("en-us+m3", "one two three four five"))


@pytest.fixture
def media_root() -> Path:
    """This run's MEDIA_ROOT, emptied: the records' primary keys start again in each test's
    database, and so would their output folders."""
    root = Path(settings.MEDIA_ROOT)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def need(*tools: str) -> None:
    """Fail under CI=true, skip elsewhere, when a Debian tool the inputs need is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (Debian: apt-get install ffmpeg espeak-ng)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def make_video(name: str, seconds: float, size: str = "320x240") -> MediaFile:
    """A test pattern with a tone (the media app's own test clip)."""
    need("ffmpeg")
    return MediaFile.of_file(make_test_clip(MediaFile.uploads() / name, seconds, size), name)


def make_speech(name: str, workdir: Path) -> MediaFile:
    """SENTENCES spoken by espeak-ng, 1.5 s of silence between them, as one WAV file."""
    need("ffmpeg", "espeak-ng")
    parts = []
    for i, (voice, text) in enumerate(SENTENCES):
        part = workdir / f"sentence{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "140", "-g", "5", "-w", str(part), text], check=True
        )
        parts.append(part)
    path = MediaFile.uploads() / name
    ffmpeg(
        "-i", str(parts[0]), "-i", str(parts[1]),
        "-filter_complex", "[0]adelay=500,apad=pad_dur=1.5[a];[1]apad=pad_dur=0.5[b];"
        "[a][b]concat=n=2:v=0:a=1",
        "-ar", "16000", "-ac", "1", str(path),
    )  # fmt: skip
    return MediaFile.of_file(path, name)
