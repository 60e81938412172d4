"""The engine seam: the pipeline takes any ``StreamingEngine`` and only its declared capabilities."""

from __future__ import annotations

from collections.abc import Sequence

from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder, chunks, render, step
from tracker.audio import SAMPLE_RATE, AudioChunk
from tracker.pipeline.build import lite_engine, lite_pipeline
from tracker.pipeline.engine import Decision, StreamingEngine, VoiceMemory
from tracker.pipeline.lite import FinalPass, LiteEngine, WindowMemory
from tracker.pipeline.pipeline import Pipeline
from tracker.segments import SpeakerSegment
from tracker.stages.accounting import Accountant

S = SAMPLE_RATE


class LateEngine:
    """Decides 1.5 s late with overlapping final segments, and guesses about speech it already
    decided (as a neural engine may); keeps no voices."""

    name = "late"
    latency_samples = 3 * S // 2

    def __init__(self, decisions: Sequence[Decision]) -> None:
        self.decisions = list(decisions)
        self.merged: list[tuple[int, int]] = []

    def __call__(self, chunk: AudioChunk) -> Decision:
        return self.decisions.pop(0) if self.decisions else Decision()

    def flush(self) -> Decision:
        return Decision()

    def reset(self) -> None:
        pass

    def merge(self, keep: int, gone: int) -> None:
        self.merged.append((keep, gone))


def test_the_lite_engine_declares_the_seam_and_its_capabilities() -> None:
    engine = lite_engine(FAKE_CONFIG, vad_model=EnergyVad(), encoder=FakeEncoder())
    assert isinstance(engine, LiteEngine) and isinstance(engine, StreamingEngine)
    assert isinstance(engine, VoiceMemory) and isinstance(engine, WindowMemory) and isinstance(engine, FinalPass)
    assert engine.embedding_model == f"{FakeEncoder().name}/{FakeEncoder().dimension}"
    assert not isinstance(LateEngine([]), VoiceMemory) and not isinstance(LateEngine([]), FinalPass)


def test_a_late_engine_with_overlap_is_counted_and_its_guess_is_clipped_to_what_is_undecided() -> None:
    first = Decision(final=[SpeakerSegment(0, 0, 2 * S), SpeakerSegment(1, S, 2 * S)],  # one second of overlap
                     provisional=[SpeakerSegment(1, 2 * S, 3 * S)], final_to=2 * S)
    # The next guess starts before the final_to given earlier: that second is clipped off.
    second = Decision(final=[], provisional=[SpeakerSegment(2, S, 4 * S)], final_to=S)
    pipe = Pipeline(FAKE_CONFIG, engine=LateEngine([first, second]))
    audio = render([], 4.0)
    step(pipe, AudioChunk(audio[: 2 * S], 0))
    assert pipe.accountant.provisional == [SpeakerSegment(1, 2 * S, 3 * S)]
    step(pipe, AudioChunk(audio[2 * S :], 2 * S))
    assert pipe.accountant.provisional == [SpeakerSegment(2, 2 * S, 4 * S)]
    talk = {s.id: s.talk_time_s for s in pipe.accountant.summary().speakers}
    assert talk[0] == 2.0 and talk[1] == 1.0  # both voices get the overlapping second
    assert pipe.final_segments() == pipe.segments  # no final pass of its own: the live answer


def test_merges_reach_the_engine_before_its_next_chunk() -> None:
    engine = LateEngine([Decision(final=[SpeakerSegment(3, 0, S)], final_to=S)])
    pipe = Pipeline(FAKE_CONFIG, engine=engine)
    audio = render([], 2.0)
    step(pipe, AudioChunk(audio[:S], 0))
    pipe.merge(0, 3)
    assert engine.merged == []  # asked from another thread: applied in the engine's own
    step(pipe, AudioChunk(audio[S:], S))
    assert engine.merged == [(0, 3)]


def test_set_provisional_clips_before_decided_to_and_keeps_the_rest() -> None:
    acc = Accountant()
    acc.set_provisional([SpeakerSegment(0, 0, 100), SpeakerSegment(1, 50, 300), SpeakerSegment(2, 200, 400)],
                        decided_to=200)
    assert acc.provisional == [SpeakerSegment(1, 200, 300), SpeakerSegment(2, 200, 400)]


def test_the_lite_engine_never_guesses_before_its_final_to() -> None:
    """So clipping changes nothing for it: its figures are what they were before the seam."""
    pipe = lite_pipeline(FAKE_CONFIG, vad_model=EnergyVad(), encoder=FakeEncoder())
    engine = pipe.engine
    assert isinstance(engine, LiteEngine)
    final_to = 0
    for chunk in chunks(render([(0, 0.5, 4.0), (1, 4.5, 8.0), (0, 8.5, 10.0)], 11.0), 1600):
        decision = engine(chunk)
        assert all(s.start_sample >= final_to for s in decision.provisional)
        assert decision.final_to >= final_to
        final_to = decision.final_to
