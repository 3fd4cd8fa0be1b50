"""The media jobs: probe, transcode, extract audio, transcribe. Found by jobkit's autodiscovery.

`run_over_library` transcodes or transcribes many files as one batch (`run_batch`): one child
per file, and a summary (`LibrarySummaryJob`) once every child has ended.

Transcode and transcribe are GPU jobs (the `gpu` queue) that may also run on the CPU
(`allow_cpu = True`): a site without a GPU still gets its MP4s and subtitles, a GPU worker
gets NVENC and a speech model kept warm in each child by `self.resource`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django_jobkit import GPUJob, Job, register_job, run_batch
from django_jobkit.models import JobBatch, JobResult

from . import cleanup, ffmpeg, speech, subtitles
from .models import MediaFile, MediaOutput


def source(media: MediaFile) -> Path:
    return Path(media.file.path)


def duration_of(media: MediaFile) -> float | None:
    if media.duration is None:
        media.probe = ffmpeg.probe(source(media))
        media.save(update_fields=["probe"])
    return media.duration


@register_job
class ProbeMediaJob(Job):
    """ffprobe the file and keep what it said on the media record."""

    def __init__(self, media: MediaFile):
        self.media = media

    def run(self) -> dict[str, Any]:
        self.media.probe = ffmpeg.probe(source(self.media))
        self.media.save(update_fields=["probe"])
        streams = self.media.probe.get("streams", [])
        return {
            "duration": self.media.duration,
            "streams": [s.get("codec_type") for s in streams],
            "format": self.media.probe.get("format", {}).get("format_name"),
        }


@register_job
class TranscodeJob(GPUJob):
    """To H.264/AAC MP4: NVENC on a pinned GPU when ffmpeg has it, libx264 otherwise."""

    allow_cpu = True

    def __init__(
        self, media: MediaFile, height: int = 0, preset: str = "veryfast", progress: bool = True
    ):
        self.media = media
        self.height = height
        self.preset = preset
        self.progress = progress  # False: no set_progress (bench/media.py measures its cost)

    def run(self) -> dict[str, Any]:
        encoder = ffmpeg.video_encoder(self.gpu)
        args = ["-i", str(source(self.media)), "-map", "0:v:0?", "-map", "0:a:0?"]
        args += ["-c:v", encoder, "-preset", self.preset if encoder == "libx264" else "p4"]
        args += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart"]
        if self.height:
            args += ["-vf", f"scale=-2:{self.height}"]
        final = self.media.output_dir() / "video.mp4"
        report = None
        if self.progress:
            self.set_progress(0.0, f"transcoding with {encoder}")
            report = self.reporter(encoder)
        ffmpeg.run(args, final, duration_of(self.media), report)
        MediaOutput.store(self.media, MediaOutput.Kind.MP4, final, encoder=encoder)
        return {"output": str(final), "encoder": encoder, "device": self.device}

    def reporter(self, label: str) -> Any:
        return lambda fraction: self.set_progress(fraction, f"{label}: {fraction:.0%}")


@register_job
class ExtractAudioJob(Job):
    """The audio track as 16 kHz mono WAV: what speech engines take."""

    def __init__(self, media: MediaFile):
        self.media = media

    def run(self) -> dict[str, Any]:
        final = self.media.output_dir() / "audio.wav"
        args = ["-i", str(source(self.media)), "-vn", "-ac", "1", "-ar", "16000"]
        args += ["-c:a", "pcm_s16le"]
        ffmpeg.run(
            args,
            final,
            duration_of(self.media),
            lambda f: self.set_progress(f, f"extracting audio: {f:.0%}"),
        )
        MediaOutput.store(self.media, MediaOutput.Kind.AUDIO, final)
        return {"output": str(final)}


@register_job
class TranscribeJob(GPUJob):
    """Speech to a transcript and an SRT file; the engine stays loaded in the worker child."""

    allow_cpu = True

    def __init__(self, media: MediaFile, engine: str = "pocketsphinx"):
        self.media = media
        self.engine = engine

    def run(self) -> dict[str, Any]:
        duration = duration_of(self.media)
        model = self.resource(
            f"stt:{self.engine}:{self.device}", lambda: speech.load(self.engine, self.device)
        )
        cues: list[speech.Cue] = []
        with ffmpeg.pcm16k(source(self.media)) as pcm:
            for cue in model.cues(pcm):
                cues.append(cue)
                # Each cue reaches the page as it is recognised, not only at the end.
                self.emit({"start": cue.start, "end": cue.end, "text": cue.text})
                fraction = min(cue.end / duration, 0.99) if duration else 0.5
                self.set_progress(fraction, f"{cue.end:.1f} s: {cue.text[:150]}")
        self.set_progress(1.0, f"{len(cues)} cues recognised")
        folder = self.media.output_dir()
        text = "\n".join(cue.text for cue in cues)
        transcript = write(folder / "transcript.txt", text + "\n" if text else "")
        srt_path = write(folder / "subtitles.srt", subtitles.to_srt(cues))
        MediaOutput.store(self.media, MediaOutput.Kind.TRANSCRIPT, transcript, engine=self.engine)
        MediaOutput.store(self.media, MediaOutput.Kind.SRT, srt_path, cues=len(cues))
        return {"text": text, "cues": len(cues), "srt": str(srt_path), "engine": model.name}


@register_job
class CleanSubtitlesJob(Job):
    """Recognised cues made readable (`cleanup`): merged fragments, reading speed, line
    length. The fixer is pluggable (`JOBKIT_DEMO_SUBTITLE_FIXER`)."""

    def __init__(self, media: MediaFile):
        self.media = media

    def run(self) -> dict[str, Any]:
        raw = MediaOutput.objects.filter(media=self.media, kind=MediaOutput.Kind.SRT).first()
        if raw is None:
            raise ValueError(f"{self.media} has no subtitles yet: transcribe it first")
        cues = subtitles.from_srt(Path(raw.file.path).read_text(encoding="utf-8"))
        fixer = cleanup.fixer()
        fixed = fixer.fix(cues)
        path = write(self.media.output_dir() / "subtitles.clean.srt", subtitles.to_srt(fixed))
        MediaOutput.store(self.media, MediaOutput.Kind.CLEAN_SRT, path, fixer=type(fixer).__name__)
        return {"srt": str(path), "cues_in": len(cues), "cues_out": len(fixed)}


@register_job
class LibrarySummaryJob(Job):
    """The `then` of a batch over the library: what became of each file, once all ended."""

    def __init__(self, action: str):
        self.action = action

    def run(self) -> dict[str, Any]:
        batch = self.batch
        if batch is None:
            raise ValueError("LibrarySummaryJob runs as the then of run_over_library's batch")
        ends = JobResult.objects.filter(
            batch_uuid=batch.uuid, retry_job_request_uuid__isnull=True
        ).exclude(status=JobResult.Status.DEFERRED)
        files = [
            {
                "request": str(end.job_request_uuid),
                "status": end.status,
                "output": (end.return_value or {}).get("output")
                or (end.return_value or {}).get("srt"),
                "error": end.error.splitlines()[0] if end.error else "",
            }
            for end in ends.order_by("ended_at")
        ]
        return {"action": self.action, "total": batch.total, **batch.counts(), "files": files}


def _made(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return str(value.get("output") or value.get("srt") or "")


#: The jobs `run_over_library` runs over many files.
BATCHABLE: dict[str, type[Job]] = {"transcode": TranscodeJob, "transcribe": TranscribeJob}


def run_over_library(action: str, files: Iterable[MediaFile] | None = None) -> JobBatch:
    """Transcode or transcribe `files` (default: the whole library) as one batch."""
    job_class = BATCHABLE.get(action)
    if job_class is None:
        raise ValueError(f"{action!r} cannot run over the library; one of {sorted(BATCHABLE)}")
    chosen = list(MediaFile.objects.all() if files is None else files)
    if not chosen:
        raise ValueError("the library has no files yet: upload one or make a sample")
    return run_batch(
        [job_class(media) for media in chosen],  # type: ignore[call-arg]
        then=LibrarySummaryJob(action),
        name=f"{action}: {len(chosen)} file(s)",
    )


def write(path: Path, text: str) -> Path:
    """Write whole or not at all: a temporary name, then a rename."""
    partial = ffmpeg.partial_name(path)
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path
