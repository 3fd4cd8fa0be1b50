"""The media app's pure parts: ffmpeg's progress blocks, SRT round trips, engine choice."""

from __future__ import annotations

import io
import itertools

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


def test_fragments_are_merged_into_a_close_neighbour_only():
    from example_project.media.cleanup import RuleFixer

    cues = [
        speech.Cue(0.0, 0.4, "so"),
        speech.Cue(0.5, 2.5, "the weather is nice today"),
        speech.Cue(5.0, 5.3, "yes"),  # a fragment, but 2.5 s after: kept alone
    ]
    fixed = RuleFixer().fix(cues)
    assert [c.text for c in fixed] == ["so the weather is nice today", "yes"]
    assert fixed[0].start == 0.0 and fixed[1].start == 5.0


def test_long_text_is_wrapped_and_split_and_each_cue_paced():
    from example_project.media.cleanup import RuleFixer

    words = " ".join(f"word{i}" for i in range(30))  # 209 characters
    fixed = RuleFixer(max_line=42, max_lines=2).fix([speech.Cue(10.0, 20.0, words)])
    assert all(len(line) <= 42 for c in fixed for line in c.text.split("\n"))
    assert all(c.text.count("\n") <= 1 for c in fixed)
    assert " ".join(c.text.replace("\n", " ") for c in fixed) == words
    assert fixed[0].start == 10.0 and fixed[-1].end >= 20.0  # paced past it: nothing follows
    assert all(a.end <= b.start for a, b in itertools.pairwise(fixed))


def test_a_cue_too_short_to_read_is_lengthened_up_to_the_next():
    from example_project.media.cleanup import RuleFixer

    text = "a sentence of some forty characters long"  # 40 chars: 2.35 s at 17 cps
    fixed = RuleFixer().fix([speech.Cue(0.0, 1.0, text), speech.Cue(2.0, 4.0, "and the next one")])
    assert fixed[0].end == 2.0 - 0.08  # stops short of the next cue
    alone = RuleFixer().fix([speech.Cue(0.0, 1.0, text)])
    assert abs(alone[0].end - 40 / 17) < 1e-6


def test_the_fixer_is_chosen_by_setting(settings):
    from example_project.media import cleanup

    settings.JOBKIT_DEMO_SUBTITLE_FIXER = "example_project.media.cleanup.RuleFixer"
    assert isinstance(cleanup.fixer(), cleanup.RuleFixer)
