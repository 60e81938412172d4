"""A device that delivers garbage (NaN, clipping, DC offset, overflows, dropped blocks) through the
microphone's real path: MicrophoneSource's callback and queue, LiveInput, the runner and the session.

The fake device is a stand-in for the ``sounddevice`` module: its stream calls the source's own
callback with the blocks a test scripts, exactly as PortAudio would.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from api_fixtures import wait_for
from conftest import DATA
from fakes import render
from tracker.sources import live as capture, microphone
from tracker.audio import SAMPLE_RATE
from tracker.sources.live import LiveInput, file_opener, microphone_opener
from tracker.pipeline.pipeline import Pipeline
from tracker.pipeline.runner import Runner
from tracker.meeting.session import MeetingSession
from tracker.sources.files import FileSource
from tracker.sources.base import BLOCK_SAMPLES, DcBlocker, EndOfStream, SourceStats

DATA = Path(__file__).resolve().parent / "data"


class FakeStream:
    """An ``sd.InputStream``: on start, a thread calls the callback with each scripted block."""

    def __init__(self, fake: FakeDevice, callback: Any, finished_callback: Any, **_: Any) -> None:
        self.device, self.callback, self.finished = fake, callback, finished_callback
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.device.burst:  # every block at once, before anyone reads: the bounded queue drops the oldest
            self._play()
            return
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()

    def _play(self) -> None:
        for block, overflow in self.device.blocks:
            if not self.device.burst:
                self.device.pace.wait(0.002)
            self.callback(block[:, None].copy(), len(block), None, SimpleNamespace(input_overflow=overflow))
        self.device.done.set()

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeDevice:
    """The parts of the ``sounddevice`` module that ``MicrophoneSource`` uses, with one 16 kHz input."""

    PortAudioError = RuntimeError

    def __init__(self, blocks: list[tuple[np.ndarray, bool]], *, burst: bool = False) -> None:
        self.blocks, self.burst = blocks, burst
        self.default = SimpleNamespace(device=(0, 0))
        self.done = threading.Event()
        self.pace = threading.Event()

    def query_devices(self, index: int | None = None) -> Any:
        info = {"index": 0, "name": "Broken USB mic", "hostapi": 0, "max_input_channels": 1, "default_samplerate": 16000.0}
        return [info] if index is None else info

    def query_hostapis(self) -> list[dict[str, str]]:
        return [{"name": "fake"}]

    def check_input_settings(self, **_: Any) -> None:
        pass

    def InputStream(self, **kwargs: Any) -> FakeStream:  # noqa: N802 - sounddevice's name
        return FakeStream(self, **kwargs)


def garbage_blocks() -> list[tuple[np.ndarray, bool]]:
    """2 s of a fake voice, then one block of each kind of damage, then 2 s of the voice again."""
    voice = render([(0, 0.0, 2.0)], 2.0)
    blocks = [(voice[i : i + BLOCK_SAMPLES], False) for i in range(0, len(voice), BLOCK_SAMPLES)]
    nan = np.zeros(BLOCK_SAMPLES, np.float32)
    nan[::7] = np.nan
    inf = np.zeros(BLOCK_SAMPLES, np.float32)
    inf[5] = np.inf
    clipped = np.clip(2.0 * voice[:BLOCK_SAMPLES] / np.abs(voice[:BLOCK_SAMPLES]).max(), -1.0, 1.0).astype(np.float32)
    offset = (voice[:BLOCK_SAMPLES] + 0.4).astype(np.float32)
    bad = [(nan, False), (inf, False), (clipped, False), (offset, False), (voice[:BLOCK_SAMPLES], True)]
    return blocks + bad + blocks


def test_a_device_that_delivers_garbage_is_counted_and_the_meeting_goes_on(
    fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    device = FakeDevice(garbage_blocks())
    monkeypatch.setattr(microphone, "_sounddevice", lambda: device)
    monkeypatch.setattr(capture, "COUNTER_LOG_S", 0.0)  # every new damage logged at once (else once a minute)
    seen: list[np.ndarray] = []
    decide = fake_pipeline.decide

    def watched(chunk: Any) -> Any:
        seen.append(chunk.samples)
        return decide(chunk)

    monkeypatch.setattr(fake_pipeline, "decide", watched)
    session = MeetingSession(fake_pipeline, LiveInput(microphone_opener(None), label="microphone"))
    caplog.set_level(logging.INFO, logger="talktime")
    session.open()
    try:
        wait_for(lambda: device.done.is_set() and session.snapshot().clock_s >= 4.5 - 1e-6, what="every block")
        snap = session.snapshot()
        assert session.status == "running" and session.runner.error is None and snap.input.status == "ok"
        assert snap.input.device == "Broken USB mic"
        assert (snap.input.nonfinite_blocks, snap.input.clipped_blocks, snap.input.offset_blocks) == (2, 1, 1)
        assert snap.input.overflows == 1
        assert all(np.isfinite(s).all() and np.abs(s).max() <= 1.0 for s in seen)
        assert abs(float(np.concatenate(seen).mean())) < 1e-3  # the offset never reached the detector
        assert 3.5 <= snap.group.speech_s <= 4.6  # the voice either side of the damage is still counted
        logged = caplog.text
        assert "audio input opened: microphone (Broken USB mic)" in logged
        assert "with NaN/inf samples (silenced)" in logged and "1 clipped" in logged
        assert "1 with a DC offset (removed)" in logged and "1 device overflows" in logged
    finally:
        session.close()


def test_dropped_blocks_are_counted_shown_and_logged(
    fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    voice = render([(0, 0.0, 8.0)], 8.0)
    device = FakeDevice([(voice[i : i + BLOCK_SAMPLES], False) for i in range(0, len(voice), BLOCK_SAMPLES)],
                        burst=True)  # 80 blocks at once into a queue of 50
    monkeypatch.setattr(microphone, "_sounddevice", lambda: device)
    session = MeetingSession(fake_pipeline, LiveInput(microphone_opener(None), label="microphone"))
    caplog.set_level(logging.INFO, logger="talktime")
    session.open()
    try:
        wait_for(lambda: session.snapshot().input.dropped_blocks == 30 and "30 dropped" in caplog.text, what="the log")
        assert session.runner.error is None
    finally:
        session.close()


def test_dc_blocker_removes_an_offset_and_keeps_speech() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    dc = DcBlocker()
    out = np.concatenate([dc(b) for b in np.split(tone + 0.25, 10)])
    assert abs(float(out[1600:].mean())) < 1e-3 and dc.offset_blocks == 10
    clean = DcBlocker()
    kept = np.concatenate([clean(b) for b in np.split(tone, 10)])
    # 200 Hz passes: 0.2 % less amplitude and 4 degrees of phase (0.019 at most on a 0.3 tone)
    assert np.abs(kept[1600:] - tone[1600:]).max() < 0.025 and clean.offset_blocks == 0
    assert np.abs(out[1600:] - kept[1600:]).max() < 1e-4  # after 0.1 s the offset is gone entirely


class _Offset:
    """A recording read fast, with a constant offset added, as a device with a bad DC bias would."""

    def __init__(self, path: Path, offset: float) -> None:
        self.src, self.offset, self.stats = FileSource(path), offset, SourceStats()  # 2 s blocks: fast

    def start(self) -> None:
        self.src.start()

    def stop(self) -> None:
        self.src.stop()

    def read(self, timeout: float) -> Any:
        chunk = self.src.read(timeout)
        if chunk is None:
            raise EndOfStream
        return type(chunk)(np.clip(chunk.samples + self.offset, -1.0, 1.0).astype(np.float32), chunk.start_sample)


def _talk(pipeline: Pipeline, offset: float) -> dict[int, float]:
    pipeline.reset()
    live = LiveInput(lambda: _Offset(DATA / "meeting2.wav", offset), retry=False, label="file")
    Runner(live, pipeline).run()
    return {s.id: round(s.talk_time_s, 2) for s in pipeline.accountant.summary().speakers}


def test_talk_times_of_a_recording_are_unchanged_by_a_dc_offset(pipeline: Pipeline) -> None:
    clean = _talk(pipeline, 0.0)
    shifted = _talk(pipeline, 0.2)
    assert sum(clean.values()) > 15 and len(clean) >= 2
    assert shifted.keys() == clean.keys()
    assert all(abs(shifted[k] - clean[k]) <= 0.05 for k in clean), (clean, shifted)


def test_a_recording_is_logged_without_a_device(caplog: pytest.LogCaptureFixture) -> None:
    """``--input FILE`` logs the file it opened, not "(default device)" as if it were a microphone."""
    live = LiveInput(file_opener(DATA / "meeting3.wav"), label="file meeting3.wav")
    caplog.set_level(logging.INFO, logger="talktime")
    live.start()
    try:
        assert live.read(timeout=2.0) is not None
    finally:
        live.stop()
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("audio input opened"))
    assert line == "audio input opened: file meeting3.wav"
