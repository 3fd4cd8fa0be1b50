"""Subtitle clean-up: make recognised cues readable. Pluggable: a fixer is any object with
`fix(cues) -> cues`, named by the `JOBKIT_DEMO_SUBTITLE_FIXER` setting (an import path), so a
model-based fixer can replace the rules here without touching the job.

The rules are the usual subtitling ones: fragments (too short to read, or a word or two) are
merged into a neighbour that is close enough; a cue is shown long enough for its reading
speed, without running into the next one; text is wrapped into lines of at most `max_line`
characters, and a cue that needs more than `max_lines` lines is split, its time shared by
length.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from .speech import Cue


class Fixer(Protocol):
    def fix(self, cues: Sequence[Cue]) -> list[Cue]: ...


@dataclass(frozen=True)
class RuleFixer:
    max_line: int = 42
    max_lines: int = 2
    max_cps: float = 17.0  # characters per second a viewer reads
    min_duration: float = 1.0
    min_words: int = 3
    merge_gap: float = 0.6  # seconds between two cues that may be merged
    min_gap: float = 0.08  # kept between two cues

    def fix(self, cues: Sequence[Cue]) -> list[Cue]:
        merged = self.merge_fragments(sorted(cues, key=lambda c: c.start))
        split = [part for cue in merged for part in self.split(cue)]
        return self.pace(split)

    def is_fragment(self, cue: Cue) -> bool:
        return cue.end - cue.start < self.min_duration or len(cue.text.split()) < self.min_words

    def merge_fragments(self, cues: list[Cue]) -> list[Cue]:
        out: list[Cue] = []
        for cue in cues:
            if out and cue.start - out[-1].end <= self.merge_gap:
                last = out[-1]
                if self.is_fragment(cue) or self.is_fragment(last):
                    out[-1] = Cue(last.start, max(last.end, cue.end), f"{last.text} {cue.text}")
                    continue
            out.append(cue)
        return out

    def split(self, cue: Cue) -> list[Cue]:
        """The cue wrapped, cut into cues of at most `max_lines` lines each."""
        lines = textwrap.wrap(" ".join(cue.text.split()), self.max_line) or [""]
        groups = [lines[i : i + self.max_lines] for i in range(0, len(lines), self.max_lines)]
        total = sum(len(" ".join(g)) for g in groups) or 1
        out, start = [], cue.start
        for group in groups:
            share = (cue.end - cue.start) * len(" ".join(group)) / total
            out.append(Cue(start, start + share, "\n".join(group)))
            start += share
        return out

    def pace(self, cues: list[Cue]) -> list[Cue]:
        """Each cue lengthened to its reading time where the next one leaves room."""
        out = []
        for i, cue in enumerate(cues):
            chars = len(cue.text.replace("\n", " "))
            wanted = cue.start + max(self.min_duration, chars / self.max_cps)
            limit = cues[i + 1].start - self.min_gap if i + 1 < len(cues) else wanted
            out.append(Cue(cue.start, max(cue.end, min(wanted, limit)), cue.text))
        return out


def fixer() -> Fixer:
    """The configured fixer: `JOBKIT_DEMO_SUBTITLE_FIXER`, an import path, called to make it."""
    path = getattr(
        settings, "JOBKIT_DEMO_SUBTITLE_FIXER", "example_project.media.cleanup.RuleFixer"
    )
    made: Fixer = import_string(path)()
    return made
