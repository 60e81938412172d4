"""pyannote.audio as an engine, offline, with small random-weight checkpoints built here.

No pretrained pyannote weights can be obtained offline, so the session builds a pipeline folder in
the community-1 layout from random weights (PyanNet with powerset output, WeSpeaker ResNet34,
random but well-formed PLDA files), as ../shared/docs/dependencies.md section 3 shows. Its answers
are meaningless; what is tested is loading, the shape of the output, the wiring, the error
messages and that nothing is reported. The cost of a run does not depend on the weights.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import DATA, REPO
from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder, load_rttm, render, write_wav
from models import ModelLoadError
from models.pyannote import PyannoteEngine, Turn, load_pyannote_pipeline
from tracker.pipeline.analysis import analyze, relabel_by_overlap
from tracker.audio import SAMPLE_RATE, Samples
from tracker.pipeline.build import lite_pipeline
from tracker.pipeline.pipeline import Pipeline
from tracker.segments import SpeakerSegment

CLIP_S = 10  # seconds of meeting2.wav used: one 10 s segmentation window, so a run takes a few seconds


def _save_checkpoint(model: Any, path: Path) -> None:
    """What lightning's Trainer.save_checkpoint stores, without a Trainer."""
    import lightning
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(ckpt)  # adds versions, architecture and specifications
    torch.save(ckpt, path)


def _save_plda(folder: Path, *, dimension: int = 256, lda_dimension: int = 128, seed: int = 0) -> None:
    """Random but well-formed PLDA files (see pyannote/audio/utils/vbx.py::vbx_setup)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "xvec_transform.npz", mean1=rng.normal(size=dimension), mean2=rng.normal(size=lda_dimension),
             lda=rng.normal(size=(dimension, lda_dimension)))
    np.savez(folder / "plda.npz", mu=rng.normal(size=lda_dimension),
             tr=np.eye(lda_dimension) + 0.1 * rng.normal(size=(lda_dimension, lda_dimension)),
             psi=rng.uniform(0.5, 2.0, size=lda_dimension))


COMMUNITY_1_CONFIG = {
    "dependencies": {"pyannote.audio": "4.0.7"},
    "pipeline": {
        "name": "pyannote.audio.pipelines.SpeakerDiarization",
        "params": {"clustering": "VBxClustering", "segmentation": "$model/segmentation", "segmentation_batch_size": 32,
                   "embedding": "$model/embedding", "embedding_batch_size": 32, "embedding_exclude_overlap": True,
                   "plda": "$model/plda"},
    },
    "params": {"clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}, "segmentation": {"min_duration_off": 0.0}},
}


def build_random_pipeline(folder: Path) -> Path:
    """A community-1-layout pipeline folder with random weights (about 30 MB)."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    seg = PyanNet(sincnet={"stride": 10})
    seg.specifications = Specifications(  # the output layout of segmentation-3.0: 7 powerset classes
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2, permutation_invariant=True)
    seg.build()
    _save_checkpoint(seg, folder / "segmentation" / "pytorch_model.bin")
    emb = WeSpeakerResNet34()
    emb.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0)
    _save_checkpoint(emb, folder / "embedding" / "pytorch_model.bin")
    _save_plda(folder / "plda")
    (folder / "config.yaml").write_text(yaml.safe_dump(COMMUNITY_1_CONFIG, sort_keys=False))
    return folder


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import models.pyannote

    models.pyannote.import_pyannote()  # NB: through our wrapper, so telemetry is off before pyannote loads
    return build_random_pipeline(tmp_path_factory.mktemp("pyannote") / "community-1-random")


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first CLIP_S seconds of meeting2.wav."""
    audio, rate = sf.read(str(DATA / "meeting2.wav"), dtype="float32")
    assert rate == SAMPLE_RATE
    return write_wav(tmp_path_factory.mktemp("clip") / "meeting2_10s.wav", audio[: CLIP_S * rate])


@dataclass
class EngineRun:
    engine: PyannoteEngine
    samples: Samples
    segments: list[Turn]
    spans: list[str]  # telemetry spans pyannote tried to open


class _SpanSpy:
    def __init__(self) -> None:
        self.names: list[str] = []

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.names.append(name)
        raise AssertionError(f"pyannote opened the telemetry span {name!r}")


@pytest.fixture(scope="session")
def engine_run(pipeline_dir: Path, clip: Path) -> EngineRun:
    """Load through our wrapper and diarize the clip, with pyannote's tracer replaced by a spy."""
    from pyannote.audio.telemetry import metrics

    spy = _SpanSpy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "tracer", spy)
        engine = PyannoteEngine(pipeline_dir)
        engine.warmup()
        samples = sf.read(str(clip), dtype="float32")[0]
        segments = engine.diarize(samples)
    return EngineRun(engine, samples, segments, spy.names)


# --------------------------------------------------------------------------- telemetry


def test_importing_pyannote_through_the_wrapper_keeps_telemetry_off() -> None:
    code = ("import os; from models.pyannote import import_pyannote; import_pyannote(); "
            "from pyannote.audio.telemetry import metrics; "
            "print(os.environ['PYANNOTE_METRICS_ENABLED'], metrics.is_metrics_enabled())")
    env = dict(os.environ, PYANNOTE_METRICS_ENABLED="1")  # a user's setting does not turn it back on
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False"]


def test_loading_and_running_opens_no_telemetry_span(engine_run: EngineRun) -> None:
    assert engine_run.spans == []


# --------------------------------------------------------------------------- the engine


def test_engine_gives_well_formed_segments_within_the_clip(engine_run: EngineRun) -> None:
    segs, n = engine_run.segments, len(engine_run.samples)
    assert segs, "random weights still mark some speech on this clip"
    for s in segs:
        assert isinstance(s.start_sample, int) and isinstance(s.end_sample, int) and isinstance(s.speaker, int)
        assert 0 <= s.start_sample < s.end_sample <= n
    assert [s.start_sample for s in segs] == sorted(s.start_sample for s in segs)
    first_seen = list(dict.fromkeys(s.speaker for s in segs))
    assert first_seen == list(range(len(first_seen)))  # numbered by first appearance


def test_loader_overrides_batch_size_and_threads(engine_run: EngineRun, pipeline_dir: Path) -> None:
    import torch

    assert engine_run.engine._pipeline.embedding_batch_size == 1  # noqa: SLF001 - the shipped config says 32
    cores = len(os.sched_getaffinity(0))
    try:
        torch.set_num_threads(1)  # as `import silero_vad` leaves it
        load_pyannote_pipeline(pipeline_dir)
        assert torch.get_num_threads() == cores
        coarse = load_pyannote_pipeline(pipeline_dir / "config.yaml", segmentation_step=0.5, threads=1)
        assert coarse._segmentation.step == pytest.approx(5.0)  # noqa: SLF001 - 0.5 x the 10 s window
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(cores)


def test_engine_needs_mono_samples(engine_run: EngineRun) -> None:
    assert engine_run.engine.diarize(np.zeros(0, np.float32)) == []
    with pytest.raises(ValueError, match="expected mono samples"):
        engine_run.engine.diarize(np.zeros((2, 100), np.float32))


def test_a_pipeline_in_the_local_hugging_face_cache(pipeline_dir: Path, tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--talktime-test--tiny-diarization"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    for name in ("config.yaml", "segmentation", "embedding", "plda"):
        (snapshot / name).symlink_to(pipeline_dir / name)
    pipeline = load_pyannote_pipeline("talktime-test/tiny-diarization", cache_dir=tmp_path / "hub")
    assert pipeline.embedding_batch_size == 1
    with pytest.raises(ModelLoadError, match="talktime-test/other is not in the local Hugging Face cache"):
        load_pyannote_pipeline("talktime-test/other", cache_dir=tmp_path / "hub")


def _write_config(folder: Path, params: dict[str, Any]) -> Path:
    config = {"version": "3.1.0", "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization", "params": params},
              "params": {"clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7},
                         "segmentation": {"min_duration_off": 0.0}}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_the_3_1_layout_with_local_checkpoints_and_a_plda_folder(pipeline_dir: Path, tmp_path: Path) -> None:
    for name in ("segmentation", "embedding", "plda"):
        (tmp_path / name).symlink_to(pipeline_dir / name)
    _write_config(tmp_path, {"clustering": "AgglomerativeClustering", "embedding_batch_size": 32,
                             "embedding": "embedding/pytorch_model.bin", "segmentation": "segmentation/pytorch_model.bin"})
    pipeline = load_pyannote_pipeline(tmp_path)
    assert pipeline.klustering == "AgglomerativeClustering" and pipeline.embedding_batch_size == 1


def _break(kind: str, pipeline_dir: Path, tmp_path: Path) -> Path:
    """A pipeline folder with one thing wrong."""
    if kind == "missing folder":
        return tmp_path / "absent"
    tmp_path.mkdir(parents=True, exist_ok=True)
    if kind == "no config.yaml":
        return tmp_path
    if kind == "3.1 config naming hub ids":
        return _write_config(tmp_path, {"clustering": "AgglomerativeClustering",
                                        "segmentation": "pyannote/segmentation-3.0",
                                        "embedding": "pyannote/wespeaker-voxceleb-resnet34-LM"})
    if kind == "3.1 config without plda":
        for name in ("segmentation", "embedding"):
            (tmp_path / name).symlink_to(pipeline_dir / name)
        return _write_config(tmp_path, {"segmentation": "$model/segmentation", "embedding": "$model/embedding"})
    names = {"missing plda": ("segmentation", "embedding"), "missing embedding": ("segmentation", "plda"),
             "plda without plda.npz": ("segmentation", "embedding")}[kind]
    for name in names:
        (tmp_path / name).symlink_to(pipeline_dir / name)
    if kind == "plda without plda.npz":
        (tmp_path / "plda").mkdir()
        (tmp_path / "plda" / "xvec_transform.npz").symlink_to(pipeline_dir / "plda" / "xvec_transform.npz")
    (tmp_path / "config.yaml").symlink_to(pipeline_dir / "config.yaml")
    return tmp_path


BROKEN = [
    ("missing folder", "no pyannote pipeline folder at"),
    ("no config.yaml", "config.yaml"),
    ("missing plda", "plda/xvec_transform.npz"),
    ("missing embedding", "embedding/pytorch_model.bin"),
    ("plda without plda.npz", "plda/plda.npz"),
    ("3.1 config naming hub ids", "pyannote/segmentation-3.0, which is not in the local Hugging Face cache"),
    ("3.1 config without plda", "names no plda"),
]


@pytest.mark.parametrize(("kind", "phrase"), BROKEN)
def test_missing_weights_name_the_file_and_the_fix(kind: str, phrase: str, pipeline_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:  # an empty Hugging Face cache: hub ids cannot resolve
        load_pyannote_pipeline(_break(kind, pipeline_dir, tmp_path / "pipeline"), cache_dir=tmp_path / "hub")
    assert phrase in str(info.value)
    assert "expected" in str(info.value)
    assert "--pipeline DIR" in str(info.value) or "copy the plda/ folder" in str(info.value)


def test_not_a_diarization_pipeline(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("pipeline:\n  name: pyannote.audio.pipelines.VoiceActivityDetection\n")
    with pytest.raises(ModelLoadError, match="expected a speaker-diarization pipeline"):
        load_pyannote_pipeline(tmp_path)


# --------------------------------------------------------------------------- final pass wiring


def test_relabel_by_overlap_keeps_live_ids() -> None:
    live = [SpeakerSegment(3, 0, 100), SpeakerSegment(5, 100, 200), SpeakerSegment(3, 200, 300)]
    final = [SpeakerSegment(0, 0, 110), SpeakerSegment(1, 90, 210), SpeakerSegment(0, 190, 300),
             SpeakerSegment(2, 400, 500)]
    assert [s.speaker for s in relabel_by_overlap(final, live)] == [3, 5, 3, 6]  # a new voice gets a new id
    assert [s.speaker for s in relabel_by_overlap(final, [])] == [0, 1, 0, 2]
    two_to_one = relabel_by_overlap([SpeakerSegment(0, 0, 60), SpeakerSegment(1, 60, 100)], [SpeakerSegment(7, 0, 100)])
    assert [s.speaker for s in two_to_one] == [7, 8]  # one-to-one: the larger overlap wins


class FixedEngine:
    """A ``DiarizationEngine`` that says the two halves of any recording are two voices, overlapping 1 s."""

    name = "fixed"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def warmup(self) -> None:
        pass

    def diarize(self, samples: Samples) -> list[SpeakerSegment]:
        self.calls.append(len(samples))
        half = len(samples) // 2
        return [SpeakerSegment(0, 0, half + SAMPLE_RATE // 2), SpeakerSegment(1, half - SAMPLE_RATE // 2, len(samples))]


def test_analyze_final_with_an_engine(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "two.wav", render([(0, 0.5, 5.5), (1, 6.5, 11.5)], 12.0))
    pipe = lite_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), encoder=FakeEncoder())
    live = analyze(path, pipe, mode="live")
    engine = FixedEngine()
    final = analyze(path, pipe, mode="final", engine=engine)
    assert engine.calls == [12 * SAMPLE_RATE]  # the whole decoded recording
    assert analyze(path, pipe, mode="live", engine=engine).segments == live.segments and len(engine.calls) == 1
    first, second = (next(s.speaker for s in live.segments if s.start_sample < t < s.end_sample)
                     for t in (3 * SAMPLE_RATE + 100, 9 * SAMPLE_RATE + 100))
    assert [s.speaker for s in final.segments] == [first, second]
    assert final.summary.group.overlap_s == pytest.approx(1.0, abs=0.01)


# --------------------------------------------------------------------------- command line


def talktime(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.models
def test_cli_analyze_with_the_pyannote_engine(pipeline_dir: Path, clip: Path, tmp_path: Path) -> None:
    rttm = tmp_path / "out.rttm"
    proc = talktime("analyze", clip, "--engine", "pyannote", "--pipeline", pipeline_dir, "--mode", "final", "--rttm", rttm)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"{clip.name}: 0:10 analysed (final mode, pyannote engine)")
    fields = [line.split() for line in rttm.read_text().splitlines()]
    assert fields
    for f in fields:
        assert len(f) == 10 and f[0] == "SPEAKER" and f[1] == clip.stem and f[2] == "1"
        assert f[5] == f[6] == f[8] == f[9] == "<NA>" and f[7].startswith("speaker")
        assert 0 <= float(f[3]) and 0 < float(f[4]) and float(f[3]) + float(f[4]) <= CLIP_S + 0.01
    assert len(load_rttm(rttm)) == len(fields)


@pytest.mark.parametrize(("kind", "phrase"), [b for b in BROKEN if b[0] in ("missing folder", "no config.yaml", "missing plda")])
def test_cli_says_which_weights_are_missing(kind: str, phrase: str, pipeline_dir: Path, tmp_path: Path) -> None:
    broken = _break(kind, pipeline_dir, tmp_path / "pipeline")
    proc = talktime("analyze", DATA / "meeting2.wav", "--engine", "pyannote", "--pipeline", broken)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("talktime: ModelLoadError: "), proc.stderr
    assert phrase in proc.stderr and "--pipeline DIR" in proc.stderr

