"""scripts/make_voice_meetings.py on made-up "voices" (tone bursts), so it runs without ../shared."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import make_voice_meetings  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="the far-field rendering needs sox")


def fake_voices(folder: Path, n: int = 14) -> Path:
    """n one-person utterances of 4 s: tone bursts of 0.3 s with 0.1 s pauses, one pitch each."""
    folder.mkdir()
    t = np.arange(int(0.3 * 16000)) / 16000
    for k in range(n):
        burst = 0.2 * np.sin(2 * np.pi * (120 + 15 * k) * t)
        audio = np.concatenate([np.concatenate([burst, np.zeros(1600)]) for _ in range(10)])
        sf.write(str(folder / f"{1000 + k}-1-0000.flac"), audio, 16000)
    return folder


def test_layout_references_and_determinism(tmp_path: Path) -> None:
    voices = fake_voices(tmp_path / "voices")
    args = ["--count", "2", "--minutes", "1", "1.2", "--voices", str(voices)]
    assert make_voice_meetings.main([str(tmp_path / "a"), *args]) == 0
    assert make_voice_meetings.main([str(tmp_path / "b"), *args]) == 0
    uris = ["voices4_00", "voices6_01"]
    for rendering in ("close", "far"):
        out = tmp_path / "a" / rendering
        assert sorted(p.stem for p in (out / "wav").glob("*.wav")) == uris
        assert [line.split()[0] for line in (out / "all.uem").read_text().splitlines()] == uris
        readme = (out / "README.md").read_text()
        assert "LibriSpeech" in readme and "CC BY 4.0" in readme and "single utterance" in readme
        for uri in uris:
            info = sf.info(str(out / "wav" / f"{uri}.wav"))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert (out / "wav" / f"{uri}.wav").read_bytes() == (tmp_path / "b" / rendering / "wav" / f"{uri}.wav").read_bytes()
    for uri, people in zip(uris, (4, 6), strict=True):
        rttm = (tmp_path / "a" / "close" / "rttm" / f"{uri}.rttm").read_text().splitlines()
        assert len({line.split()[7] for line in rttm}) == people
        assert all(float(line.split()[4]) > 0 for line in rttm)
