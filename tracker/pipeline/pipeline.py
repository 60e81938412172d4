"""The pipeline: an engine (``engine.StreamingEngine``) given to it, then the figures (``Accountant``).

It never builds an engine (``build`` does) and only talks to it through the seam and the declared
capabilities: ``VoiceMemory`` for known voices, ``FinalPass`` for the post-meeting answer,
``WindowMemory`` for keeping windows (``lite``). No I/O, no threads.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from tracker.audio import AudioChunk, seconds
from tracker.pipeline.engine import KeepsHistory, SetsAsideBackground, StreamingEngine, VoiceMemory, sees_overlap
from tracker.pipeline.lite import FinalPass, LiteEngine, WindowMemory
from tracker.pipeline.neural import NeuralConfig
from tracker.pipeline.profiles import KnownVoices, forget_seeds
from tracker.segments import SpeakerSegment
from tracker.stages.accounting import AccountingConfig, Accountant
from tracker.stages.diarization import DiarizationConfig
from tracker.stages.reclustering import ReclusteringConfig
from tracker.stages.vad import VadConfig


@dataclass(frozen=True)
class PipelineConfig:
    """The settings of every stage, assembled once at the edge (CLI or app settings)."""

    engine: str = "neural"  # which engine ``build`` makes: "neural" (segmentation + CAM++) or "lite" (VAD + Resemblyzer)
    neural: NeuralConfig = field(default_factory=NeuralConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)
    accounting: AccountingConfig = field(default_factory=AccountingConfig)
    reclustering: ReclusteringConfig = field(default_factory=ReclusteringConfig)


class Pipeline:
    """An engine's decisions -> accounting, for one audio stream (no I/O, no threads).

    Parameters
    ----------
    config : PipelineConfig (its ``accounting`` settings are the pipeline's own).
    engine : the streaming engine, built by ``tracker.pipeline.build``.

    The slow part (``decide``: the engine's models) and the quick part (``account``: the figures)
    are separate so a live runner holds its lock only for the quick part.

    Speech not yet attributed for good is credited to its likeliest voice as provisional speech
    (``Accountant.provisional``): the room sees talk a fraction of a second after it is said, and
    the engine's decision, about a second later, replaces it. Decided figures never include it,
    and it is clipped to what the engine has not decided yet (``Decision.final_to``).

    ``keep_history`` (default True) keeps what ``analyze`` needs afterwards: ``segments`` as
    decided and the engine's windows for the post-meeting pass. A live meeting turns it off: its
    report is built from the stored segments, and 8 hours of windows would be ~125 MB.
    """

    def __init__(self, config: PipelineConfig, *, engine: StreamingEngine) -> None:
        self.config = config
        self.engine = engine
        self.memory: VoiceMemory | None = engine if isinstance(engine, VoiceMemory) else None
        self.accountant = Accountant(config.accounting, overlap_measured=sees_overlap(engine))
        self.known: KnownVoices | None = None  # enrolled people (tracker.pipeline.profiles); set with use_profiles
        self.keep_history = True
        self.revisable = False  # see keep_live_history
        self.reset()

    @property
    def keep_history(self) -> bool:
        return self._keep_history

    @keep_history.setter
    def keep_history(self, keep: bool) -> None:
        self._keep_history = keep
        if isinstance(self.engine, WindowMemory):
            self.engine.keep_windows = keep
        if isinstance(self.engine, KeepsHistory):
            self.engine.keep_records = keep

    def reset(self) -> None:
        self.engine.reset()
        forget_seeds(self.engine)  # seeded again below from the profiles in use now
        self.accountant.reset()
        self.segments: list[SpeakerSegment] = []  # what the live pipeline decided, as decided
        self._merged: dict[int, int] = {}  # voice merged away -> the voice it now counts as
        self._merge_requests: list[tuple[int, int]] = []  # for the engine, applied in its own thread
        self._undecided: list[SpeakerSegment] = []  # provisional speech found by the last ``decide``
        self._final_to = 0  # every sample before it is decided (the engine's latest ``final_to``)
        if self.known is not None:
            self.known.seed(self.memory, self.accountant)

    def use_profiles(self, known: KnownVoices | None) -> None:
        """Recognise enrolled people from now on (seeds them at once and after every reset)."""
        self.known = known
        self.reset()

    def _alias(self, speaker: int) -> int:
        while speaker in self._merged:
            speaker = self._merged[speaker]
        return speaker

    def decide(self, chunk: AudioChunk) -> list[SpeakerSegment]:
        """The models' part of one chunk: the engine decides (touches no figure)."""
        requests, self._merge_requests = self._merge_requests, []
        for keep, gone in requests:
            self.engine.merge(keep, gone)
        decision = self.engine(chunk)
        self._undecided = decision.provisional
        self._final_to = max(self._final_to, decision.final_to)
        return decision.final

    def decide_rest(self) -> list[SpeakerSegment]:
        """End of stream: the engine decides everything still pending."""
        self._undecided = []
        decision = self.engine.flush()
        self._final_to = max(self._final_to, decision.final_to)
        return decision.final

    def account(self, segs: list[SpeakerSegment], *, start: int | None = None, end: int | None = None) -> list[SpeakerSegment]:
        """Add decided segments to the figures; ``start``/``end`` are the chunk's samples."""
        if start is not None:
            self.accountant.begin(start)
        segs = [SpeakerSegment(self._alias(s.speaker), s.start_sample, s.end_sample) for s in segs] if self._merged else segs
        if self._keep_history:
            self.segments += segs
        self.accountant.add(segs)
        self.accountant.set_provisional(
            (SpeakerSegment(self._alias(s.speaker), s.start_sample, s.end_sample) for s in self._undecided),
            decided_to=self._final_to,
        )
        if self.known is not None and segs:
            for keep, gone in self.known.update(self.memory, self.accountant, segs):
                self.merge(keep, gone)
        self.accountant.advance(self.accountant.clock_samples if end is None else end)
        return segs

    def flush(self) -> list[SpeakerSegment]:
        """End of stream: decide everything still pending."""
        return self.account(self.decide_rest())

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        """The post-meeting answer: the engine's own revisit (``FinalPass``: the lite engine's
        re-clustering) or, for an engine without one, the live segments; merges applied.

        ``protected``: voices the facilitator named (two of them are never made one)."""
        if isinstance(self.engine, FinalPass):
            segs = self.engine.final_segments(protected=protected)
        else:
            segs = list(self.segments)
        return [SpeakerSegment(self._alias(s.speaker), s.start_sample, s.end_sample) for s in segs]

    @property
    def background_samples(self) -> int:
        """Talk the last ``final_segments`` credited to nobody as a conversation in the background
        (an engine that ``SetsAsideBackground``; else 0)."""
        return self.engine.background_samples if isinstance(self.engine, SetsAsideBackground) else 0

    @property
    def background_s(self) -> float:
        """``background_samples`` in seconds."""
        return seconds(self.background_samples)

    @property
    def stands_in_for(self) -> str | None:
        """The engine asked for, when the one running stands in because it could not load its
        models (``build_engine(fallback=True)``); None otherwise."""
        return self.engine.stands_in_for if isinstance(self.engine, LiteEngine) else None

    def keep_live_history(self) -> bool:
        """A live meeting's choice: keep only what stays small over 8 hours.

        The engine's windows of features (``WindowMemory``, ~125 MB a day) are not kept; the
        embeddings and decisions of an engine that bounds them (``KeepsHistory`` alone, the
        neural engine: at most ``max_records`` embeddings) are, so the meeting can get the
        engine's post-meeting pass when it ends. Returns whether it will (``revisable``).
        """
        self.keep_history = False
        engine = self.engine
        self.revisable = False
        if isinstance(engine, KeepsHistory) and isinstance(engine, FinalPass) and not isinstance(engine, WindowMemory):
            engine.keep_records = True
            self.revisable = True
        return self.revisable

    def merge(self, keep: int, gone: int) -> None:
        """Credit voice ``gone`` to ``keep`` from now on and in the past.

        The figures change at once; the engine folds the voices before its next chunk, in its
        own thread, and anything it decides for ``gone`` meanwhile is counted as ``keep``.
        """
        self._merged[gone] = keep
        self._merge_requests = [*self._merge_requests, (keep, gone)]
        self.accountant.merge(keep, gone)

    @property
    def embedding_model(self) -> str | None:
        """The model of the engine's voice centroids (profiles of other models are never compared)."""
        return self.memory.embedding_model if self.memory is not None else None
