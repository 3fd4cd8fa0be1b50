"""Typed, lazily read `JOBKIT_*` settings, so that `override_settings` is always honoured."""

from __future__ import annotations

from django.conf import settings


class Settings:
    @property
    def MIDDLEWARE(self) -> list[str]:
        """Dotted paths of job middleware, outermost first (like Django's MIDDLEWARE)."""
        return list(getattr(settings, "JOBKIT_MIDDLEWARE", []))

    @property
    def WAIT_POLL_INTERVAL(self) -> float:
        """Longest pause, in seconds, between two looks at the database in `JobRequest.wait`."""
        return float(getattr(settings, "JOBKIT_WAIT_POLL_INTERVAL", 0.2))


jobkit_settings = Settings()
