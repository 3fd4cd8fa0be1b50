"""The media app's pure parts: ffmpeg's progress blocks, SRT round trips, engine choice."""

from __future__ import annotations

import io

import pytest

from example_project.media import speech, subtitles
from example_project.media.ffmpeg import Progress, partial_name


def feed(progress: Progress, block: str) -> list[float | None]:
    return [f for f in map(progress.feed, block.splitlines()) if f is not None]


def test_progress_reads_out_time_against_the_duration():
    progress = Progress(duration=10.0)
    assert feed(progress, "frame=25\nout_time_us=2500000\nprogress=continue\n") == [0.25]
    # out_time_ms is microseconds too (ffmpeg's naming quirk); N/A before the first frame.
    assert feed(Progress(4.0), "out_time_ms=1000000\nprogress=continue") == [0.25]
    assert feed(Progress(4.0), "out_time_us=N/A\nprogress=continue") == []
    assert feed(progress, "out_time_us=12000000\nprogress=continue") == [1.0]  # capped
    assert feed(progress, "progress=end") == [1.0]


def test_progress_without_a_duration_reports_only_the_end():
    progress = Progress(duration=None)
    assert feed(progress, "out_time_us=1000000\nprogress=continue\nprogress=end") == [1.0]


def test_partial_files_are_hidden_beside_the_output(tmp_path):
    assert partial_name(tmp_path / "video.mp4") == tmp_path / ".video.partial.mp4"


def test_srt_round_trip_keeps_order_and_timings():
    cues = [speech.Cue(0.5, 2.25, "the weather"), speech.Cue(3.0, 4.5, "one two")]
    text = subtitles.to_srt(cues)
    assert text.startswith("1\n00:00:00,500 --> 00:00:02,250\nthe weather\n")
    assert subtitles.from_srt(text) == cues


def test_an_unknown_engine_is_refused_by_name():
    with pytest.raises(speech.SpeechEngineError, match="unknown speech engine 'vosk'"):
        speech.load("vosk", "cpu")


def test_faster_whisper_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(speech.SpeechEngineError, match=r"no model\.bin"):
        speech.FasterWhisper(str(tmp_path), "cpu")


def test_pocketsphinx_finds_no_cue_in_silence():
    engine = speech.PocketSphinx()
    assert list(engine.cues(io.BytesIO(bytes(32000)))) == []
