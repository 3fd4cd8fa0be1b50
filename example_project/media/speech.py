"""Speech to text, pluggable: an engine turns 16 kHz mono PCM into cues as it recognises them.

`pocketsphinx` ships with the demo and the tests: the package carries its English model, so
nothing is downloaded. `faster-whisper` loads a model from a local folder named by
`JOBKIT_DEMO_WHISPER_MODEL` (a CTranslate2 model directory); it never downloads one at run
time, and without the setting it fails with an error saying what to set. The model object is
what a job keeps warm with `self.resource`: `load(name, device)` is the loader.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

SAMPLE_RATE = 16000
#: Silence put around each speech segment before decoding: PocketSphinx mishears words that
#: start right at the edge of its input.
PAD = bytes(2 * SAMPLE_RATE // 2)


class SpeechEngineError(RuntimeError):
    """The engine is not installed, or not configured."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


class Engine(Protocol):
    name: str

    def cues(self, pcm: IO[bytes]) -> Iterator[Cue]: ...


class PocketSphinx:
    name = "pocketsphinx"

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:  # pragma: no cover - a project dependency
            raise SpeechEngineError(
                "pocketsphinx is not installed (pip install pocketsphinx)"
            ) from exc
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def cues(self, pcm: IO[bytes]) -> Iterator[Cue]:
        from pocketsphinx import Segmenter

        for speech in Segmenter(sample_rate=SAMPLE_RATE).segment(pcm):
            self.decoder.start_utt()
            self.decoder.process_raw(PAD + speech.pcm + PAD, full_utt=True)
            self.decoder.end_utt()
            hypothesis = self.decoder.hyp()
            text = hypothesis.hypstr.strip() if hypothesis is not None else ""
            if text:
                yield Cue(float(speech.start_time), float(speech.end_time), text)


class FasterWhisper:
    name = "faster-whisper"

    def __init__(self, model_path: str | None, device: str) -> None:
        if not model_path:
            raise SpeechEngineError(
                "the faster-whisper engine needs a local model: set JOBKIT_DEMO_WHISPER_MODEL "
                "to a CTranslate2 model folder (nothing is downloaded at run time)"
            )
        if not Path(model_path, "model.bin").is_file():
            raise SpeechEngineError(
                f"JOBKIT_DEMO_WHISPER_MODEL={model_path!r} is not a faster-whisper model folder "
                "(no model.bin in it)"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise SpeechEngineError(
                "faster-whisper is not installed (pip install faster-whisper)"
            ) from exc
        kind = "cuda" if device.startswith("cuda") else "cpu"
        self.model: Any = WhisperModel(model_path, device=kind, local_files_only=True)

    def cues(self, pcm: IO[bytes]) -> Iterator[Cue]:
        import numpy

        audio = numpy.frombuffer(pcm.read(), dtype=numpy.int16).astype("float32") / 32768.0
        segments, _ = self.model.transcribe(audio, vad_filter=True)
        for segment in segments:  # a generator: each segment as it is decoded
            yield Cue(float(segment.start), float(segment.end), segment.text.strip())


ENGINES = ("pocketsphinx", "faster-whisper")


def load(name: str, device: str) -> Engine:
    """The loader `self.resource` calls once per worker child."""
    if name == "pocketsphinx":
        return PocketSphinx()
    if name == "faster-whisper":
        return FasterWhisper(os.environ.get("JOBKIT_DEMO_WHISPER_MODEL"), device)
    raise SpeechEngineError(f"unknown speech engine {name!r}: choose one of {', '.join(ENGINES)}")
