"""A media library: uploaded files and what the media jobs made of them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models


class MediaFile(models.Model):
    title = models.CharField(max_length=200, blank=True)
    file = models.FileField(upload_to="uploads/")
    probe = models.JSONField(null=True, blank=True, help_text="What ffprobe said about it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or Path(self.file.name or "").name

    @staticmethod
    def uploads() -> Path:
        """Where uploaded (and made) files live, under MEDIA_ROOT."""
        folder = Path(settings.MEDIA_ROOT) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @classmethod
    def of_file(cls, path: Path, title: str) -> MediaFile:
        """A record for a file already written under MEDIA_ROOT."""
        return cls.objects.create(title=title, file=str(path.relative_to(settings.MEDIA_ROOT)))

    @property
    def duration(self) -> float | None:
        """Seconds, from the last probe."""
        try:
            return float((self.probe or {})["format"]["duration"])
        except (KeyError, TypeError, ValueError):
            return None

    def output_dir(self) -> Path:
        """Where this file's outputs are written: one folder per media file."""
        folder = Path(settings.MEDIA_ROOT) / "outputs" / str(self.pk)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class MediaOutput(models.Model):
    class Kind(models.TextChoices):
        MP4 = "mp4", "MP4 video"
        AUDIO = "audio", "Audio (16 kHz WAV)"
        TRANSCRIPT = "transcript", "Transcript"
        SRT = "srt", "Subtitles (SRT)"
        CLEAN_SRT = "srt_clean", "Subtitles, cleaned up (SRT)"

    media = models.ForeignKey(MediaFile, on_delete=models.CASCADE, related_name="outputs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    file = models.FileField(upload_to="outputs/")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["media", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["media", "kind"], name="media_output_one_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.media} · {self.get_kind_display()}"

    @classmethod
    def store(cls, media: MediaFile, kind: str, path: Path, **details: object) -> MediaOutput:
        """Record a finished output file (replacing the last one of its kind)."""
        name = str(path.relative_to(settings.MEDIA_ROOT))
        output, _ = cls.objects.update_or_create(
            media=media, kind=kind, defaults={"file": name, "details": details}
        )
        return output
