"""Real Flower, started against the test broker, for tests that use its HTTP API."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import CeleryProcess, free_port


class FlowerProcess(CeleryProcess):
    """`celery -A example_project flower` on a free loopback port, its API open to the test."""

    ready_marker = "Visit me at"

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        args = ["flower", f"--port={self.port}", "--address=127.0.0.1"]
        super().__init__(args, log, {**env, "FLOWER_UNAUTHENTICATED_API": "true"})

    def call(self, method: str, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=b"" if method == "POST" else None,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                return response.status, json.loads(body) if body else None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


@contextmanager
def running_flower(tmp_path: Path, env: dict[str, str]) -> Iterator[FlowerProcess]:
    flower = FlowerProcess(tmp_path / f"flower-{os.getpid()}.log", env)
    try:
        flower.wait_ready()
        yield flower
    finally:
        flower.stop()
