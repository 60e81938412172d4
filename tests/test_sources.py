"""Audio sources: file decoding and pacing, the microphone's callback and clock, device lookup."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import tracker.sources.base as sources
import tracker.sources.microphone as microphone
from tracker.audio import SAMPLE_RATE
from tracker.sources.base import BLOCK_SAMPLES, AudioInputError, EndOfStream
from tracker.sources.files import FAST_BLOCK_SAMPLES, FileSource, read_audio
from tracker.sources.microphone import MicrophoneSource, resolve_device

Sox = Callable[..., None]


def _read_all(src: FileSource) -> list[Any]:
    out = []
    src.start()
    while True:
        try:
            chunk = src.read(0.1)
        except EndOfStream:
            return out
        out.append(chunk)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)[np.argmax(spec)])


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_file_source_decodes_common_formats(tmp_path: Path, sox: Sox, ext: str) -> None:
    path = tmp_path / f"tone.{ext}"
    sox("-n", "-r", "16000", "-c", "1", path, "synth", "1.5", "sine", "440", "vol", "0.5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 16 kHz mono needs no conversion, so no notice
        src = FileSource(path)
    parts = _read_all(src)
    audio = np.concatenate([c.samples for c in parts])
    assert src.stats.notices == []
    assert len(audio) == 24_000
    assert [c.start_sample for c in parts] == list(np.cumsum([0] + [len(c.samples) for c in parts[:-1]]))
    assert all(c.samples.dtype == np.float32 and c.sample_rate == SAMPLE_RATE for c in parts)
    assert _peak_hz(audio) == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_file_source_resamples_and_downmixes_with_a_notice(tmp_path: Path, sox: Sox) -> None:
    path = tmp_path / "stereo.flac"
    # Left: a 440 Hz tone; right: silence. The mono mix is the mean of the two.
    sox("-n", "-r", "44100", "-c", "2", path, "synth", "2", "sine", "440", "vol", "0.8", "remix", "1", "0")
    with pytest.warns(UserWarning) as warned:
        src = FileSource(path)
    said = [str(w.message) for w in warned]
    assert said == src.stats.notices
    assert any("resampling 44100 Hz to 16000 Hz" in n for n in said)
    assert any("mixing 2 channels down to mono" in n for n in said)
    audio = np.concatenate([c.samples for c in _read_all(src)])
    assert abs(len(audio) - 2 * SAMPLE_RATE) <= 2
    assert _peak_hz(audio) == pytest.approx(440, abs=2)
    steady = audio[1_000:-1_000]
    assert np.max(np.abs(steady)) == pytest.approx(0.4, rel=0.05)


def test_read_audio_replaces_nan_and_clips(tmp_path: Path) -> None:
    x = np.zeros(4_000, dtype=np.float32)
    x[10], x[20], x[30], x[40] = np.nan, np.inf, 3.0, -2.0
    path = tmp_path / "broken.wav"
    sf.write(str(path), x, SAMPLE_RATE, subtype="FLOAT")
    audio = read_audio(path)
    assert np.isfinite(audio).all()
    assert audio.max() == 1.0 and audio.min() == -1.0
    assert audio[10] == 0.0 and audio[20] == 0.0


def test_block_sizes(tmp_path: Path, sox: Sox) -> None:
    path = tmp_path / "tone.wav"
    sox("-n", "-r", "16000", "-c", "1", path, "synth", "5", "sine", "300")
    assert FileSource(path).block_samples == FAST_BLOCK_SAMPLES
    assert FileSource(path, realtime=True).block_samples == BLOCK_SAMPLES
    sizes = [len(c.samples) for c in _read_all(FileSource(path, block_samples=30_000))]
    assert sizes == [30_000, 30_000, 20_000]
    with pytest.raises(ValueError, match="expected > 0"):
        FileSource(path, block_samples=-1)


def test_fast_reading_is_fast_and_realtime_is_paced(tmp_path: Path, sox: Sox) -> None:
    path = tmp_path / "one_second.wav"
    sox("-n", "-r", "16000", "-c", "1", path, "synth", "1", "sine", "300")
    t0 = time.monotonic()
    _read_all(FileSource(path))
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    chunks = _read_all(FileSource(path, realtime=True))
    paced = time.monotonic() - t0
    assert fast < 0.5
    assert 0.95 <= paced < 1.6
    assert len(chunks) == 10  # 0.1 s blocks, like the microphone


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="no such file.*expected the path of an audio recording"):
        FileSource(tmp_path / "nope.wav")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="is not a file.*expected the path of an audio recording"):
        FileSource(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(AudioInputError, match="is empty.*expected an audio recording"):
        FileSource(path)


def test_wav_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "header_only.wav"
    sf.write(str(path), np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioInputError, match="contains no audio samples; expected a recording"):
        FileSource(path)


@pytest.mark.parametrize("name", ["corrupt.wav", "notes.txt"])
def test_corrupt_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(5_000))
    with pytest.raises(AudioInputError, match=r"cannot decode .*expected"):
        FileSource(path)


# --------------------------------------------------------------------------- microphone (no device)


def _block(value: float, n: int = BLOCK_SAMPLES) -> np.ndarray:
    return np.full((n, 1), value, dtype=np.float32)  # what PortAudio hands the callback: (frames, channels)


def _started(mic: MicrophoneSource, rate: int = SAMPLE_RATE) -> MicrophoneSource:
    """Pretend the stream is open, so ``read`` works without a device."""
    mic.rate = rate
    mic._resample = sources._Resampler(rate)  # noqa: SLF001
    mic._stream = object()  # noqa: SLF001
    return mic


def test_callback_copies_and_counts_overflows() -> None:
    mic = _started(MicrophoneSource(max_queue_blocks=4))
    data = _block(0.25)
    mic._callback(data, BLOCK_SAMPLES, None, SimpleNamespace(input_overflow=True))  # noqa: SLF001
    data[:] = 0.0  # PortAudio reuses its buffer after the callback returns
    mic._callback(_block(0.5), BLOCK_SAMPLES, None, None)  # noqa: SLF001
    assert mic.stats.overflows == 1
    first = mic.read(0.1)
    assert first is not None and first.start_sample == 0 and np.all(first.samples == 0.25)
    second = mic.read(0.1)
    assert second is not None and second.start_sample == BLOCK_SAMPLES
    assert mic.read(0.01) is None  # nothing queued: a timeout, not the end


def test_full_queue_drops_the_oldest_block_and_the_clock_skips_it() -> None:
    mic = _started(MicrophoneSource(max_queue_blocks=3))
    for k in range(5):  # the pipeline is stuck: blocks 0 and 1 must go
        mic._callback(_block(float(k) / 10), BLOCK_SAMPLES, None, None)  # noqa: SLF001
    assert mic.stats.dropped_blocks == 2
    got = [mic.read(0.1) for _ in range(3)]
    assert [c.samples[0] for c in got if c is not None] == pytest.approx([0.2, 0.3, 0.4])
    # The stream clock still counts the dropped audio, so it stays true to the wall clock.
    assert [c.start_sample for c in got if c is not None] == [2 * BLOCK_SAMPLES, 3 * BLOCK_SAMPLES, 4 * BLOCK_SAMPLES]
    # Later drops, after reads, advance the clock the same way.
    for k in range(5, 9):
        mic._callback(_block(float(k) / 10), BLOCK_SAMPLES, None, None)  # noqa: SLF001
    assert mic.stats.dropped_blocks == 3
    nxt = mic.read(0.1)
    assert nxt is not None and nxt.start_sample == 6 * BLOCK_SAMPLES and nxt.samples[0] == pytest.approx(0.6)


def test_dropped_audio_at_a_device_rate_is_counted_in_stream_samples() -> None:
    mic = _started(MicrophoneSource(max_queue_blocks=1), rate=48_000)
    mic._callback(_block(0.1, 4_800), 4_800, None, None)  # noqa: SLF001
    mic._callback(_block(0.2, 4_800), 4_800, None, None)  # noqa: SLF001 - drops the first 0.1 s
    chunk = mic.read(0.1)
    assert chunk is not None and chunk.start_sample == BLOCK_SAMPLES


def test_microphone_read_before_start_ends_and_a_vanished_device_is_an_error() -> None:
    mic = MicrophoneSource()
    with pytest.raises(EndOfStream):
        mic.read(0.01)
    mic = _started(MicrophoneSource())
    mic._stopping = False  # noqa: SLF001
    mic._finished()  # noqa: SLF001 - PortAudio says the stream stopped by itself
    with pytest.raises(AudioInputError, match="stopped delivering audio"):
        mic.read(0.01)


# --------------------------------------------------------------------------- device lookup

_DEVICES = [
    {"index": 0, "name": "pulse", "hostapi": "ALSA", "channels": 32, "default_samplerate": 44100.0, "default": False},
    {"index": 3, "name": "USB Audio: Conference Mic (hw:1,0)", "hostapi": "ALSA", "channels": 1,
     "default_samplerate": 48000.0, "default": False},
    {"index": 4, "name": "default", "hostapi": "ALSA", "channels": 32, "default_samplerate": 44100.0, "default": True},
]


@pytest.fixture
def fake_devices(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    devices = [dict(d) for d in _DEVICES]
    monkeypatch.setattr(microphone, "list_input_devices", lambda: devices)
    return devices


def test_resolve_device_by_index_name_or_fragment(fake_devices: list[dict[str, Any]]) -> None:
    assert resolve_device(None) is None
    assert resolve_device("") is None
    assert resolve_device(3) == 3
    assert resolve_device("3") == 3
    assert resolve_device("pulse") == 0
    assert resolve_device("conference") == 3
    assert resolve_device("default") == 4


@pytest.mark.parametrize(("device", "problem"), [("zoom h4", "unknown"), (7, "unknown"), ("u", "ambiguous")])
def test_resolve_device_errors_list_the_choices(fake_devices: list[dict[str, Any]], device: str | int, problem: str) -> None:
    with pytest.raises(AudioInputError) as err:
        resolve_device(device)
    msg = str(err.value)
    assert problem in msg and repr(device) in msg
    assert "expected one of: 0: pulse, 3: USB Audio: Conference Mic (hw:1,0), 4: default" in msg


def test_resolve_device_without_any_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(microphone, "list_input_devices", lambda: [])
    with pytest.raises(AudioInputError, match="no audio input device found; expected a microphone"):
        resolve_device(None)
