"""The neural engine: overlap-aware segmentation and CAM++ voices, in the way diart works.

Every ``step_s`` (0.5 s) the last ``window_s`` (5 s) of audio go through a segmentation model,
which says for every ~17 ms frame which of up to three local speakers talk (two at once when
people overlap). Each local speaker with enough clean speech (frames nobody else talks over) gets
an embedding of exactly those frames; ``VoiceClustering`` maps the chunk's local speakers onto the
meeting's voices (one-to-one, continuity with the previous chunk, a new voice only on sustained
evidence). Each chunk then votes, frame by frame, for the voices it heard (``FrameVotes``); a
frame is decided ``latency_s`` after it was heard, from the chunks that saw it, so two people
talking at once both get the time. Speech of a voice not yet established waits (at most
``max_wait_s``) and is shown meanwhile as provisional.

The engine is given its models (``SegmentationModel``, ``VoiceEncoder``); it loads nothing and
does no I/O. Time in samples.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tracker.audio import SAMPLE_RATE, AudioChunk, to_samples
from tracker.pipeline.engine import Decision, EmbeddingRecord, Vector
from tracker.segments import SpeakerSegment
from tracker.stages.voice_pass import RegroupConfig, VoicePassConfig, final_pass
from tracker.stages.segmentation import ChunkActivity, FrameVotes, binarize, continuity, runs
from tracker.stages.voices import Local, VoiceClustering, VoiceConfig

Floats = npt.NDArray[np.float32]

SILENCE = 1e-4  # peak below which a window is not worth the model's time (-80 dBFS)


def frame_power(audio: Floats, centre0: int, frame: int, frames: int) -> npt.NDArray[np.float64]:
    """Mean square of ``audio`` around each of the segmentation model's ``frames`` (frame k is
    centred at ``centre0 + k * frame`` and spans one ``frame``)."""
    squares = np.concatenate([[0.0], np.cumsum(np.asarray(audio, np.float64) ** 2)])
    lo = np.clip(centre0 + np.arange(frames) * frame - frame // 2, 0, len(audio))
    hi = np.clip(lo + frame, 0, len(audio))
    out: npt.NDArray[np.float64] = (squares[hi] - squares[lo]) / np.maximum(hi - lo, 1)
    return out


class SegmentationModel(Protocol):
    """Audio chunks in, per-frame activity of a few local speakers out (``models.segmentation``)."""

    sample_rate: int
    frame_step_samples: int
    receptive_field_samples: int

    def __call__(self, chunks: Floats) -> Floats: ...  # (B, n) -> (B, frames, local speakers), in [0, 1]


class VoiceEncoder(Protocol):
    """A speaker encoder that can leave out frames (``models.campplus``)."""

    sample_rate: int
    name: str
    dim: int

    def embed_speakers(self, waveform: Floats, weights: Floats) -> Floats: ...  # (n,), (S, m) -> (S, dim) unit rows


@dataclass(frozen=True)
class NeuralConfig:
    """Settings of the neural engine."""

    window_s: float = 10.0  # seconds of audio the segmentation model sees at once (its training length)
    step_s: float = 0.5  # seconds between two looks
    latency_s: float = 1.5  # a frame is decided this long after it was heard
    max_wait_s: float = 4.0  # speech of a voice not yet established waits this long (3 times, while it goes on)
    onset: float = 0.5  # activity probability above which a local speaker talks
    min_embed_s: float = 0.6  # seconds of clean speech a local speaker needs for an embedding
    embed_s: float = 4.0  # an embedding describes the clean speech of the window's last this many seconds
    embed_every: int = 2  # a continued local speaker is embedded every this many steps
    record_every_s: float = 2.0  # one kept embedding per voice at most this often, for the final pass
    max_records: int = 40_000  # embeddings kept at most (about 30 MB): older ones are thinned
    voices: VoiceConfig = field(default_factory=VoiceConfig)
    final: VoicePassConfig = field(default_factory=VoicePassConfig)
    regroup: RegroupConfig = field(default_factory=RegroupConfig)

    @classmethod
    def for_files(cls) -> NeuralConfig:
        """The settings for a recording analysed after the fact (``talktime analyze --mode final``):
        nobody waits for a decision, so a look every 1 s (each frame still seen by 10 windows) and an
        embedding at every look; half the work, the same accuracy on dev (final TVD 11.1 pp, DER 24.3 %)."""
        return cls(step_s=1.0, latency_s=2.0, embed_every=1)

    def __post_init__(self) -> None:
        if not 0 < self.step_s <= self.window_s:
            raise ValueError(f"NeuralConfig expected 0 < step_s <= window_s, got {self.step_s}, {self.window_s}")
        if not self.step_s <= self.latency_s <= self.window_s:
            raise ValueError(f"NeuralConfig expected step_s <= latency_s <= window_s, got {self.latency_s}")


@dataclass
class _Record:
    start: int
    end: int
    embedding: Vector
    speech: int
    track: int
    level_db: float


class NeuralEngine:
    """A ``StreamingEngine`` (and ``VoiceMemory``) on a segmentation model and a speaker encoder."""

    name = "neural"

    def __init__(self, config: NeuralConfig, *, segmentation: SegmentationModel, encoder: VoiceEncoder) -> None:
        if segmentation.sample_rate != SAMPLE_RATE or encoder.sample_rate != SAMPLE_RATE:
            raise ValueError(f"NeuralEngine expected models at {SAMPLE_RATE} Hz, got {segmentation.sample_rate} "
                             f"and {encoder.sample_rate}")
        self.config = config
        self.segmentation = segmentation
        self.encoder = encoder
        self.embedding_model = encoder.name
        self.keep_records = True
        self.window = to_samples(config.window_s)
        self.step = to_samples(config.step_s)
        self.frame = segmentation.frame_step_samples
        self.centre0 = segmentation.receptive_field_samples // 2
        self.latency_samples = to_samples(config.latency_s)
        self.clustering = VoiceClustering(config.voices)
        self.reset()

    # --- the seam ---------------------------------------------------------------------------

    def reset(self) -> None:
        self.clustering.reset()
        self.votes = FrameVotes(self.frame, onset=0.5)
        self._started = False
        self._origin = 0
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0
        self._end = 0
        self._next_step = 0
        self._steps = 0
        self._prev: ChunkActivity | None = None
        self._prev_tracks: list[int | None] = []
        self._records: list[_Record] = []
        self._last_record: dict[int, int] = {}
        self._final_to = 0
        self._decided: list[SpeakerSegment] = []  # kept with the records, for the final pass
        self._background_live = 0  # talk of background voices, never decided for anyone
        self._background_pass = 0  # talk the last final pass set aside

    def __call__(self, chunk: AudioChunk) -> Decision:
        if not self._started:
            self._started = True
            self._origin = self._buf_start = self._end = self._final_to = chunk.start_sample
            self._next_step = chunk.start_sample + self.step
            self.votes = FrameVotes(self.frame, onset=0.5)
            self.votes.base = chunk.start_sample // self.frame
        if chunk.start_sample != self._end:
            raise ValueError(f"NeuralEngine expected contiguous chunks: this one starts at {chunk.start_sample}, "
                             f"the stream is at {self._end}")
        self._buf = np.concatenate([self._buf, chunk.samples.astype(np.float32, copy=False)])
        self._end = chunk.end_sample
        while self._next_step <= self._end:
            self._look(self._next_step)
            self._next_step += self.step
        keep_from = self._next_step - self.window
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :]
            self._buf_start = keep_from
        return self._decide(final=False)

    def flush(self) -> Decision:
        if not self._started:
            return Decision(final_to=self._final_to)
        last = self._next_step - self.step
        if self._end > last:
            self._look(self._end)
        return self._decide(final=True)

    def merge(self, keep: int, gone: int) -> None:
        self.clustering.merge(keep, gone)
        self.votes.relabel(gone, keep)

    def final_segments(self, *, protected: Collection[int] = ()) -> list[SpeakerSegment]:
        """Every segment decided, relabelled by the post-meeting pass (``tracker.stages.voice_pass``):
        the kept embeddings regrouped over the whole meeting, then close voices merged and tiny ones folded.
        The merge compares the voices as regrouped (each record under its new voice): a live voice that
        held two people's speech is judged on what is left of it, not on the mixture. A quiet voice
        that talks over the meeting is set aside as background (``background_samples``)."""
        segs = [(self.clustering.track(s.speaker), s.start_sample, s.end_sample) for s in self._decided]
        behind = self.clustering.background
        kept = [r for r in self.records() if r.label not in behind]
        recs = [(r.label, r.start, r.end, r.embedding, r.speech) for r in kept]
        out = final_pass(recs, segs, self.config.regroup, self.config.final, protected=protected,
                         levels=[r.level_db for r in kept])
        self._background_pass = sum(b - a for _, a, b in segs) - sum(b - a for _, a, b in out)
        return [SpeakerSegment(sid, a, b) for sid, a, b in out]

    @property
    def background_samples(self) -> int:
        """Talk set aside as background: live, plus the last final pass's (``SetsAsideBackground``)."""
        return self._background_live + self._background_pass

    # --- VoiceMemory ------------------------------------------------------------------------

    def seed(self, speaker: int, centroid: Vector, *, weight: int, claim_threshold: float | None = None) -> None:
        self.clustering.seed(speaker, centroid, weight=weight, claim_threshold=claim_threshold)

    def centroids(self) -> Mapping[int, tuple[Vector, int]]:
        return {sid: (v.centroid.astype(np.float32), v.count) for sid, v in self.clustering.voices.items()
                if v.count and not v.background}

    def records(self) -> Sequence[EmbeddingRecord]:
        out = []
        for r in self._records:
            t = self.clustering.track(r.track)
            out.append(EmbeddingRecord(r.start, r.end, r.embedding, r.speech, t if t >= 0 else None, r.level_db))
        return out

    # --- one look ---------------------------------------------------------------------------

    def _window(self, end: int) -> Floats:
        lo = end - self.window
        have = self._buf[max(0, lo - self._buf_start) : end - self._buf_start]
        if len(have) < self.window:
            have = np.concatenate([np.zeros(self.window - len(have), np.float32), have])
        return have

    def _look(self, end: int) -> None:
        """Segment the window ending at ``end``, map its local speakers, vote."""
        start = end - self.window
        audio = self._window(end)
        if float(np.max(np.abs(audio), initial=0.0)) < SILENCE:  # digital silence (a muted call): nobody talks
            n = 1 + (self.window - self.segmentation.receptive_field_samples) // self.frame
            probs = np.zeros((n, 3), np.float32)
        else:  # NB: a model that pads to a longer chunk gives more frames: those past the window are dropped
            probs = np.asarray(self.segmentation(audio[None, :]))[0][: 1 + (self.window - self.segmentation.receptive_field_samples) // self.frame]
        active = binarize(probs, self.config.onset)
        act = ChunkActivity(start, self.frame, self.centre0, active)
        centres = start + self.centre0 + np.arange(act.frames) * self.frame
        active[(centres < self._origin) | (centres >= self._end)] = False
        clean = act.clean()
        clean[centres < end - to_samples(self.config.embed_s)] = False
        speakers = [s for s in range(active.shape[1]) if active[:, s].any()]
        follows = continuity(self._prev, act) if self._prev is not None else {}
        min_clean = to_samples(self.config.min_embed_s)
        embed_now = self._steps % self.config.embed_every == 0
        previous = {s: self._prev_tracks[follows[s]] if s in follows else None for s in speakers}
        want = [s for s in speakers if clean[:, s].sum() * self.frame >= min_clean
                and (embed_now or self._unsure(previous[s]))]
        embs: dict[int, Vector] = {}
        if want:  # only the audio the embedding describes goes through the encoder (its frames' receptive fields)
            first = int(np.searchsorted(centres, end - to_samples(self.config.embed_s)))
            lo = max(0, first * self.frame)
            rows = self.encoder.embed_speakers(audio[lo:], clean[first:, want].T.astype(np.float32))
            embs = {s: rows[i] for i, s in enumerate(want)}
        power = frame_power(audio, self.centre0, self.frame, active.shape[0]) if embs else None
        level = {s: float(10 * np.log10(power[clean[:, s]].mean() + 1e-12)) for s in embs} if power is not None else {}
        newest = centres >= end - self.step  # each frame is counted once, in the step that brought it
        talking = active.sum(axis=1) > 1
        locals_ = [Local(embs.get(s), int(clean[:, s].sum()) * self.frame, previous[s], level.get(s),
                         int((active[:, s] & newest).sum()) * self.frame,
                         int((active[:, s] & newest & talking).sum()) * self.frame) for s in speakers]
        tracks = self.clustering.assign(locals_)
        for cid, sid in self.clustering.promote(SAMPLE_RATE):
            self.votes.relabel(cid, sid)
        self.votes.add(act.global_frames(), {t: active[:, s] for s, t in zip(speakers, tracks, strict=True)})
        self._keep(act, clean, embs, level, dict(zip(speakers, tracks, strict=True)))
        self._prev = act
        self._prev_tracks = [None] * active.shape[1]
        for s, t in zip(speakers, tracks, strict=True):
            self._prev_tracks[s] = t
        self._steps += 1

    def _unsure(self, track: int | None) -> bool:
        """A local speaker that continues no voice yet (nothing, or a candidate): embed it now."""
        return track is None or self.clustering.track(track) < 0

    def _keep(self, act: ChunkActivity, clean: npt.NDArray[np.bool_], embs: dict[int, Vector],
              level: dict[int, float], tracks: dict[int, int]) -> None:
        if not self.keep_records:
            return
        every = to_samples(self.config.record_every_s)
        for s, e in embs.items():
            t = tracks[s]
            frames = np.flatnonzero(clean[:, s])
            lo = act.start + self.centre0 + int(frames[0]) * self.frame
            if lo - self._last_record.get(t, -(10**12)) < every:
                continue
            self._last_record[t] = lo
            hi = act.start + self.centre0 + int(frames[-1] + 1) * self.frame
            self._records.append(_Record(lo, hi, e.astype(np.float32), len(frames) * self.frame, t, level[s]))
        if len(self._records) > self.config.max_records:
            self._records = self._records[::2]  # thin evenly: every voice keeps half its evidence

    # --- deciding ---------------------------------------------------------------------------

    def _decide(self, *, final: bool) -> Decision:
        votes, clus = self.votes, self.clustering
        last = self._end if final else self._next_step - self.step
        upto = votes.end if final else (last - self.latency_samples) // self.frame
        wait = to_samples(self.config.max_wait_s)
        for t in votes.tracks():
            t2 = clus.track(t)
            if t2 != t:
                votes.relabel(t, t2)
        for t in votes.tracks():
            if t >= 0:
                continue
            first = votes.first_frame(t)
            if first is None or first >= upto:
                continue
            patience = 3 * wait if t in self._prev_tracks else wait  # still talking: its evidence is coming
            if final or last - first * self.frame >= patience:
                votes.relabel(t, clus.force(t))
            else:
                upto = first
        lo, held = votes.decide(upto)
        alive = set(votes.tracks()) | {t for t in self._prev_tracks if t is not None}
        clus.drop_candidates(keep=alive)
        final_segs: list[SpeakerSegment] = []
        behind = clus.background
        for t, mask in held.items():
            sid = clus.track(t)
            if sid < 0:
                sid = clus.force(sid)
            for a, b in runs(mask):
                s, e = max((lo + a) * self.frame, self._origin), min((lo + b) * self.frame, self._end)
                if e > s and sid in behind:  # a conversation in the background: nobody's talk
                    self._background_live += e - s
                elif e > s:
                    final_segs.append(SpeakerSegment(sid, s, e))
        final_segs.sort(key=lambda g: (g.start_sample, g.speaker))
        if self.keep_records:
            self._decided += final_segs
        self._final_to = self._end if final else max(self._final_to, min(votes.base * self.frame, self._end))
        provisional: list[SpeakerSegment] = []
        for t, mask in votes.held(votes.base, votes.end).items():
            sid = clus.guess(t)
            if sid in behind:
                continue
            for a, b in runs(mask):
                s, e = max((votes.base + a) * self.frame, self._origin), min((votes.base + b) * self.frame, self._end)
                if e > s:
                    provisional.append(SpeakerSegment(sid, s, e))
        provisional.sort(key=lambda g: (g.start_sample, g.speaker))
        return Decision(final=final_segs, provisional=provisional, final_to=self._final_to)

    # --- enrollment: every embedding, for a while (added for enrollment; the logic above never reads it) ---

    _before_every: tuple[NeuralConfig, bool] | None = None  # the config and keep_records to restore

    @property
    def keep_every_embedding(self) -> bool:
        """While True, ``records()`` gains every embedding the engine makes (about one per voice per
        ``embed_every`` steps), not one per voice per ``record_every_s``: an enrollment of a few
        seconds reads them. A live meeting leaves it off; enrollment turns it on while it listens."""
        return self._before_every is not None

    @keep_every_embedding.setter
    def keep_every_embedding(self, on: bool) -> None:
        import dataclasses

        if on and self._before_every is None:
            self._before_every = (self.config, self.keep_records)
            self.config = dataclasses.replace(self.config, record_every_s=0.0)
            self.keep_records = True
        elif not on and self._before_every is not None:
            (self.config, self.keep_records), self._before_every = self._before_every, None

    def forget_seeds(self) -> None:
        """Forget every seeded voice (the profiles in use changed: the pipeline seeds the ones it still
        uses again after each reset; a deleted profile must not stay a known voice)."""
        for sid in self.clustering.seeded:
            self.clustering.voices.pop(sid, None)
        self.clustering.seeded = {}
