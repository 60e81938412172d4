"""Model wrappers: telemetry off, silero found without importing its package, Resemblyzer's contract."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, REPO
from fakes import load_rttm
from tracker.audio import SAMPLE_RATE, to_samples
from tracker.sources.files import read_audio


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, **env), timeout=120)


def test_importing_models_turns_pyannote_telemetry_off() -> None:
    proc = _python("import os, models; print(os.environ['PYANNOTE_METRICS_ENABLED'], os.environ['HF_HUB_OFFLINE'])",
                   PYANNOTE_METRICS_ENABLED="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1"]


def test_silero_loads_without_importing_silero_vad() -> None:
    # NB: importing silero_vad sets torch to one thread for the whole process.
    proc = _python("import sys; from models.vad import SileroVadModel; SileroVadModel(); "
                   "print('silero_vad' in sys.modules, 'torch' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


@pytest.mark.models
def test_resemblyzer_embeddings() -> None:
    from models.embedding import ResemblyzerEncoder

    enc = ResemblyzerEncoder()  # the lite engine's encoder (the session's pipeline is the neural engine)
    audio = read_audio(DATA / "meeting3.wav")
    turns: dict[str, list[np.ndarray]] = {}
    for name, a, b in load_rttm(DATA / "meeting3.rttm"):
        if b - a >= 1.6:
            turns.setdefault(name, []).append(audio[to_samples(a) : to_samples(a) + to_samples(1.6)])
    waves = [turns["alex"][0], turns["alex"][1], turns["blair"][0]]
    embs = enc.embed(waves)
    assert embs.shape == (3, enc.dimension) and embs.dtype == np.float32
    assert np.linalg.norm(embs, axis=1) == pytest.approx(np.ones(3), abs=1e-4)
    assert embs[0] @ embs[1] > embs[0] @ embs[2]  # the same voice is closer than another one
    one = enc.embed([waves[2]])
    assert one[0] == pytest.approx(embs[2], abs=1e-4)  # batching does not change a window's vector
    with pytest.raises(ValueError, match="expected at least"):
        enc.embed([np.zeros(SAMPLE_RATE // 10, np.float32)])


def test_fakes_keep_the_real_call_signatures() -> None:
    import inspect

    from fakes import EnergyVad, FakeEncoder, ScriptedVad
    from models.embedding import ResemblyzerEncoder
    from models.vad import SileroVadModel, WebRtcVadModel

    def params(fn: object) -> list[str]:
        return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]

    for real in (ResemblyzerEncoder,):
        for method in ("embed", "warmup"):
            assert params(getattr(FakeEncoder, method)) == params(getattr(real, method))
        assert {"name", "dimension", "min_samples"} <= set(dir(FakeEncoder)) & set(dir(real))
    for fake in (EnergyVad, ScriptedVad):
        for real_vad in (SileroVadModel, WebRtcVadModel):
            assert params(fake.__call__) == params(real_vad.__call__)
            assert params(fake.reset) == params(real_vad.reset)
    assert EnergyVad.frame_samples == SileroVadModel.frame_samples
