"""Hybrid meetings: a room engine and a call engine composed into one, each person counted once.

Data flow (one worker thread, as for a plain microphone)::

    room mic ─┐                        ┌─ echo gate ─ room engine ─┐
              ├─ PairedSource ─ chunk ─┤                           ├─ one Decision ─ one Accountant
    call out ─┘  (room + reference)    └─ call engine (remote ids) ┘

``tracker.sources.paired.PairedSource`` hands the runner room chunks that carry the call audio of
the same span as ``AudioChunk.reference``. ``HybridEngine`` first silences the call's echo in the
room (``tracker.stages.echo``), then gives the room audio to the room engine and the call audio
to the call engine, whose voice ids are moved up by ``REMOTE_SPEAKER_BASE``: one set of figures
holds everyone and every voice knows where it is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from tracker.audio import AudioChunk
from tracker.pipeline.engine import (Decision, EmbeddingRecord, KeepsHistory, SetsAsideBackground, StreamingEngine, Vector,
                                     VoiceMemory, sees_overlap)
from tracker.pipeline.lite import FinalPass, WindowMemory
from tracker.pipeline.profiles import ForgetsSeeds
from tracker.segments import SpeakerSegment
from tracker.stages.diarization import WindowRecord
from tracker.stages.accounting import REMOTE_SPEAKER_BASE, is_remote
from tracker.stages.echo import EchoConfig, EchoGate


def _remote(segs: list[SpeakerSegment]) -> list[SpeakerSegment]:
    return [SpeakerSegment(s.speaker + REMOTE_SPEAKER_BASE, s.start_sample, s.end_sample) for s in segs]


class HybridEngine:
    """A room engine and a call engine behind one seam (see the module docstring).

    Parameters
    ----------
    room_engine : decides the room's voices (after the echo gate).
    call_engine : decides the call's voices (remote ids).
    echo : the echo gate's settings (the paired source lines the call up with the same ones).
    room : False for a fully remote meeting: the chunk's own samples are the call, everyone is remote.

    Chunks without a ``reference`` are room audio only (the call device is missing): the call
    engine then hears silence, so its clock keeps up. Known voices (``VoiceMemory``), kept windows
    (``WindowMemory``) and enrollment are the room engine's: enrolled people are in the room.
    """

    name = "hybrid"

    def __init__(self, room_engine: StreamingEngine, call_engine: StreamingEngine, *,
                 echo: EchoConfig | None = None, room: bool = True) -> None:
        self.room_engine = room_engine
        self.call_engine = call_engine
        self.echo = EchoGate(echo)
        self.room = room
        self.latency_samples = max(room_engine.latency_samples, call_engine.latency_samples)

    @property
    def sees_overlap(self) -> bool:
        """Overlap is measured when each engine sees it (the room's people overlap one another too)."""
        return sees_overlap(self.call_engine) and (not self.room or sees_overlap(self.room_engine))

    # ------------------------------------------------------------------ the seam

    def __call__(self, chunk: AudioChunk) -> Decision:
        if not self.room:
            call = self.call_engine(AudioChunk(chunk.samples, chunk.start_sample))
            return Decision(_remote(call.final), _remote(call.provisional), call.final_to)
        ref = chunk.reference if chunk.reference is not None else np.zeros_like(chunk.samples)
        gated = self.echo(chunk)
        here = self.room_engine(AudioChunk(gated.samples, chunk.start_sample))
        call = self.call_engine(AudioChunk(ref, chunk.start_sample))
        return Decision(here.final + _remote(call.final), here.provisional + _remote(call.provisional),
                        min(here.final_to, call.final_to))

    def flush(self) -> Decision:
        call = self.call_engine.flush()
        if not self.room:
            return Decision(_remote(call.final), [], call.final_to)
        here = self.room_engine.flush()
        return Decision(here.final + _remote(call.final), [], min(here.final_to, call.final_to))

    def forget_seeds(self) -> None:
        """Forget the seeded voices of both engines (``tracker.pipeline.profiles.ForgetsSeeds``)."""
        for e in (self.room_engine, self.call_engine):
            if isinstance(e, ForgetsSeeds):  # NB: only the neural engine's seeds outlive a reset
                e.forget_seeds()

    def reset(self) -> None:
        self.echo.reset()
        self.call_engine.reset()
        self.room_engine.reset()

    def merge(self, keep: int, gone: int) -> None:
        """Two remote voices are folded in the call engine; every merge also goes to the room
        engine while there is a room (for remote ids it holds nothing to fold)."""
        if is_remote(keep) and is_remote(gone):
            self.call_engine.merge(keep - REMOTE_SPEAKER_BASE, gone - REMOTE_SPEAKER_BASE)
        if self.room:
            self.room_engine.merge(keep, gone)

    # ------------------------------------------------------------------ the room engine's capabilities

    @property
    def embedding_model(self) -> str:
        return self._memory().embedding_model

    def _memory(self) -> VoiceMemory:
        if not isinstance(self.room_engine, VoiceMemory):
            raise AttributeError(f"the room engine {self.room_engine.name!r} keeps no voices")
        return self.room_engine

    def seed(self, speaker: int, centroid: Vector, *, weight: int, claim_threshold: float | None = None) -> None:
        self._memory().seed(speaker, centroid, weight=weight, claim_threshold=claim_threshold)

    def centroids(self) -> Mapping[int, tuple[Vector, int]]:
        return self._memory().centroids()

    def records(self) -> Sequence[EmbeddingRecord]:
        return self._memory().records()

    @property
    def keep_windows(self) -> bool:
        return isinstance(self.room_engine, WindowMemory) and self.room_engine.keep_windows

    @keep_windows.setter
    def keep_windows(self, keep: bool) -> None:
        for engine in (self.room_engine, self.call_engine):
            if isinstance(engine, WindowMemory):
                engine.keep_windows = keep

    @property
    def keep_records(self) -> bool:
        """``KeepsHistory`` of the two engines (the neural engine's post-meeting material)."""
        return any(isinstance(e, KeepsHistory) and e.keep_records for e in (self.room_engine, self.call_engine))

    @keep_records.setter
    def keep_records(self, keep: bool) -> None:
        for engine in (self.room_engine, self.call_engine):
            if isinstance(engine, KeepsHistory):
                engine.keep_records = keep

    @property
    def step_s(self) -> float:
        if not isinstance(self.room_engine, WindowMemory):
            raise AttributeError(f"the room engine {self.room_engine.name!r} keeps no windows")
        return self.room_engine.step_s

    @property
    def windows(self) -> list[WindowRecord]:
        if not isinstance(self.room_engine, WindowMemory):
            raise AttributeError(f"the room engine {self.room_engine.name!r} keeps no windows")
        return self.room_engine.windows

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        """Each side's own revisit (its live segments are not kept here, so both sides need one)."""
        if not isinstance(self.room_engine, FinalPass) or not isinstance(self.call_engine, FinalPass):
            raise TypeError("a hybrid final pass expected two engines that revisit their decisions")
        here = self.room_engine.final_segments(protected=[s for s in protected if not is_remote(s)]) if self.room else []
        there = self.call_engine.final_segments(protected=[s - REMOTE_SPEAKER_BASE for s in protected if is_remote(s)])
        return here + _remote(there)

    @property
    def background_samples(self) -> int:
        """Talk either side's last final pass set aside as a conversation in the background
        (``SetsAsideBackground``); the call's engine hears the call, where one is rare but possible."""
        return sum(e.background_samples for e in (self.room_engine, self.call_engine) if isinstance(e, SetsAsideBackground))
