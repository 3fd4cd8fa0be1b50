"""The example project's media jobs through a real worker: inputs made by ffmpeg's lavfi
sources and espeak-ng, outputs checked with ffprobe and by reading them back."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from django_jobkit.models import JobBatch, JobProcess, JobResult
from example_project.media import ffmpeg, subtitles
from example_project.media.jobs import (
    CleanSubtitlesJob,
    ExtractAudioJob,
    ProbeMediaJob,
    TranscodeJob,
    TranscribeJob,
)
from example_project.media.models import MediaOutput
from tests.conftest import wait_for
from tests.media import make_speech, make_video, media_root, need  # noqa: F401 - a fixture

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("media_root")]

S = JobResult.Status


def done(request, timeout: float = 120) -> JobResult:
    result = request.wait(timeout)
    assert result.status == S.SUCCESSFUL, result.error
    return result


def ffmpeg_pids_writing(folder: Path) -> list[int]:
    """ffmpeg processes whose command line names a file in `folder`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ffmpeg") and any(str(folder).encode() in a for a in argv):
            pids.append(int(entry.name))
    return pids


def test_probe_transcode_and_extract_audio(start_worker_process, fresh_queue):
    queue = fresh_queue()
    start_worker_process([queue], concurrency=2)
    media = make_video("clip.avi", 4)

    probed = done(ProbeMediaJob(media).run_in_worker(queue=queue)).return_value
    assert probed["streams"] == ["video", "audio"] and 3.9 < probed["duration"] < 4.2

    video = TranscodeJob(media).run_in_worker(queue=queue)
    audio = ExtractAudioJob(media).run_in_worker(queue=queue)
    transcoded, extracted = done(video), done(audio)
    assert transcoded.return_value["encoder"] == "libx264"  # no GPU here
    assert transcoded.device == "" and transcoded.return_value["device"] == "cpu"
    # ffmpeg's own progress drove set_progress, to the end.
    assert transcoded.progress == 1.0 and transcoded.progress_message == "libx264: 100%"

    mp4 = ffmpeg.probe(Path(transcoded.return_value["output"]))
    assert {s["codec_name"] for s in mp4["streams"]} == {"h264", "aac"}
    assert 3.9 < float(mp4["format"]["duration"]) < 4.2
    wav = ffmpeg.probe(Path(extracted.return_value["output"]))
    (stream,) = wav["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == (
        "pcm_s16le",
        "16000",
        1,
    )
    kinds = set(MediaOutput.objects.filter(media=media).values_list("kind", flat=True))
    assert kinds == {"mp4", "audio"}
    assert not list(media.output_dir().glob(".*partial*"))


def test_cancelling_a_transcode_kills_ffmpeg_and_leaves_no_partial_file(
    start_worker_process, fresh_queue
):
    queue = fresh_queue()
    start_worker_process([queue], concurrency=1)
    media = make_video("long.avi", 60, size="640x480")
    request = TranscodeJob(media, preset="veryslow").run_in_worker(queue=queue)
    folder = media.output_dir()

    def transcoding() -> JobProcess | None:
        process = JobProcess.objects.filter(job_request_uuid=request.uuid).first()
        return process if process is not None and (process.progress or 0) > 0 else None

    process = wait_for(transcoding, 60, "ffmpeg's first progress")
    assert ffmpeg_pids_writing(folder)
    assert list(folder.glob(".video.partial.mp4"))
    assert process.cancel() is True
    result = request.wait(30)
    assert result.status == S.CANCELLED
    assert 0 < result.progress < 1
    wait_for(lambda: not ffmpeg_pids_writing(folder), 10, "ffmpeg to be gone")
    assert list(folder.iterdir()) == []  # neither the partial file nor an output
    assert not MediaOutput.objects.filter(media=media).exists()


def test_transcribe_writes_the_spoken_words_and_an_srt_in_order(
    start_worker_process, fresh_queue, tmp_path
):
    queue = fresh_queue()
    start_worker_process([queue], concurrency=1)
    media = make_speech("speech.wav", tmp_path)
    first, second = (
        done(TranscribeJob(media).run_in_worker(queue=queue)),
        done(TranscribeJob(media).run_in_worker(queue=queue)),
    )
    assert first.return_value["engine"] == "pocketsphinx"
    words = first.return_value["text"].split()
    for word in ("weather", "nice", "today", "two", "three", "four", "five"):
        assert word in words, first.return_value["text"]
    assert second.return_value["text"] == first.return_value["text"]

    srt_file = Path(first.return_value["srt"])
    cues = subtitles.from_srt(srt_file.read_text())
    assert len(cues) == 2
    assert "weather" in cues[0].text and "three" in cues[1].text
    assert 0 <= cues[0].start < cues[0].end <= cues[1].start < cues[1].end <= 8
    # Each cue was emitted as it was recognised; the result keeps them all.
    assert [item["text"] for item in first.output] == [cue.text for cue in cues]
    for item, cue in zip(first.output, cues, strict=True):
        assert abs(item["start"] - cue.start) < 0.002 and abs(item["end"] - cue.end) < 0.002
    assert (first.progress, first.progress_message) == (1.0, "2 cues recognised")
    transcript = MediaOutput.objects.get(media=media, kind="transcript")
    assert Path(transcript.file.path).read_text().split() == words

    cleaned = done(CleanSubtitlesJob(media).run_in_worker(queue=queue)).return_value
    clean_cues = subtitles.from_srt(Path(cleaned["srt"]).read_text())
    assert [c.text for c in clean_cues] == [c.text for c in cues]  # nothing to merge here
    assert all(a.end <= b.start for a, b in itertools.pairwise(clean_cues))


def test_faster_whisper_without_a_local_model_fails_with_what_to_set(
    start_worker_process, fresh_queue, tmp_path
):
    queue = fresh_queue()
    start_worker_process([queue], concurrency=1, env={"JOBKIT_DEMO_WHISPER_MODEL": ""})
    media = make_speech("speech2.wav", tmp_path)
    result = TranscribeJob(media, engine="faster-whisper").run_in_worker(queue=queue).wait(60)
    assert result.status == S.ERRORED
    assert "set JOBKIT_DEMO_WHISPER_MODEL" in result.error
    assert "nothing is downloaded" in result.error


def test_ffmpeg_dies_with_a_killed_parent(tmp_path):
    """The parent-death signal: a child killed outright does not leave ffmpeg running."""
    need("ffmpeg")
    script = (
        "import sys; from pathlib import Path; from example_project.media import ffmpeg\n"
        "ffmpeg.run(['-f','lavfi','-i','testsrc=duration=600:size=640x480','-c:v','libx264',"
        "'-preset','veryslow'], Path(sys.argv[1]), 600, lambda f: print('progress', flush=True))\n"
    )
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "progress"
    assert ffmpeg_pids_writing(tmp_path)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    wait_for(lambda: not ffmpeg_pids_writing(tmp_path), 10, "ffmpeg to die with its parent")


def test_transcoding_the_whole_library_is_one_batch_with_a_summary(start_worker_process, client):
    # Children go to the GPU queue (run on the CPU here), the summary to the default one.
    start_worker_process(["default", "gpu"], concurrency=2)
    first, second = make_video("one.avi", 1), make_video("two.avi", 1)

    page = client.post("/media-library/all/transcode/")
    assert page.status_code == 302
    batch = JobBatch.objects.get()
    assert batch.total == 2 and batch.name == "transcode: 2 file(s)"
    batch.wait(180)
    summary = wait_for(
        lambda: JobResult.objects.filter(
            root_uuid=JobBatch.objects.get(pk=batch.pk).then_root_uuid, status=S.SUCCESSFUL
        ).first(),
        60,
        "the library summary",
    ).return_value
    assert (summary["action"], summary["total"], summary["succeeded"]) == ("transcode", 2, 2)
    assert [f["status"] for f in summary["files"]] == [S.SUCCESSFUL] * 2
    assert all(Path(f["output"]).suffix == ".mp4" for f in summary["files"])
    for media in (first, second):
        assert MediaOutput.objects.filter(media=media, kind="mp4").exists()
    listed = client.get("/media-library/").content.decode()
    assert "transcode: 2 file(s)" in listed and "2 done, 0 failed" in listed
    assert client.post("/media-library/all/probe/").status_code == 404
