"""Cues to SRT, through the `srt` library (parsing and composing SubRip is its whole job)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import srt

from .speech import Cue


def to_srt(cues: Iterable[Cue]) -> str:
    return srt.compose(
        srt.Subtitle(i, timedelta(seconds=c.start), timedelta(seconds=c.end), c.text)
        for i, c in enumerate(cues, start=1)
    )


def from_srt(text: str) -> list[Cue]:
    return [Cue(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(text)]
