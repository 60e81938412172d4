"""Streaming speaker diarization: who is speaking, decided about a second after it is said.

Every ``step_s`` a window of the last ``window_s`` seconds is embedded (its speech samples only)
and the window *owns* the step-long span at its centre: the speech there gets the window's
speaker. A window is assigned to the closest known voice when it is similar enough; otherwise it
waits, and a new speaker is created only when ``new_speaker_windows`` such windows agree with one
another (a cough or a door never becomes a person). Window records (embedding, span, label) are
kept for the post-meeting pass; sound is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from models.embedding import SpeakerEncoder
from tracker.audio import SAMPLE_RATE, AudioChunk, Samples, to_samples
from tracker.segments import SpeakerSegment
from tracker.stages.vad import SpeechFrames, speech_mask_samples


@dataclass(frozen=True)
class DiarizationConfig:
    """Settings of the streaming diarizer."""

    window_s: float = 1.6  # seconds of audio per embedding (Resemblyzer's 160-frame partial)
    step_s: float = 0.4  # seconds between windows; also the span each window labels
    min_speech_s: float = 0.4  # seconds of speech a window needs to be embedded at all
    strong_fraction: float = 0.6  # share of a window that must be speech for it to create/update a voice
    assign_threshold: float = 0.8  # cosine similarity to a voice's centroid to be that voice
    new_speaker_windows: int = 4  # agreeing unmatched windows needed to create a speaker (4 x 0.4 s)
    new_speaker_agreement: float = 0.84  # cosine similarity of each of those windows to their mean
    pending_timeout_s: float = 2.0  # seconds an unmatched window may wait before it goes to the closest voice
    max_speakers: int = 20  # beyond this, unmatched windows go to the closest voice

    def __post_init__(self) -> None:
        if not 0 < self.step_s <= self.window_s:
            raise ValueError(f"DiarizationConfig expected 0 < step_s <= window_s, got {self.step_s}, {self.window_s}")
        if not 0 < self.assign_threshold < 1:
            raise ValueError(f"DiarizationConfig.assign_threshold expected in (0, 1), got {self.assign_threshold!r}")
        if self.new_speaker_windows < 1:
            raise ValueError(f"DiarizationConfig.new_speaker_windows expected >= 1, got {self.new_speaker_windows!r}")


@dataclass
class WindowRecord:
    """One analysis window: what the post-meeting pass needs (no audio)."""

    index: int
    span_start: int  # sample where the span this window labels begins
    span_end: int  # sample one past its end
    speech: list[tuple[int, int]]  # speech intervals (samples) inside the span
    speech_fraction: float  # share of the whole window that is speech
    embedding: npt.NDArray[np.float32] | None = None  # unit vector, None if too little speech
    strong: bool = False  # enough speech to create or update a voice
    label: int | None = None  # the live speaker id given to it

    @property
    def speech_samples(self) -> int:
        return sum(e - s for s, e in self.speech)


def speech_intervals(mask: npt.NDArray[np.bool_], offset: int) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` as (start, end) sample pairs shifted by ``offset``."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(offset + int(s), offset + int(e)) for s, e in zip(starts, ends, strict=True)]


@dataclass
class _Voice:
    total: npt.NDArray[np.float64]
    count: int = 0


def unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows (or a vector) scaled to unit length."""
    out: npt.NDArray[np.float64] = x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)
    return out


@dataclass
class OnlineClustering:
    """Incremental voice clustering over window embeddings (no I/O, no audio).

    ``voices`` maps a speaker id to the running sum of its windows' embeddings; ids are never
    reused, so a label on the dashboard never changes meaning. ``unheard`` maps a seeded voice
    that has not yet been heard in this meeting to the similarity a window needs to claim it.
    """

    config: DiarizationConfig
    voices: dict[int, _Voice] = field(default_factory=dict)
    next_id: int = 0
    unheard: dict[int, float] = field(default_factory=dict)

    def similarities(self, emb: npt.NDArray[np.float32], *, heard_only: bool = False) -> dict[int, float]:
        """Cosine similarity of ``emb`` to each voice's centroid (only voices heard in this meeting
        with ``heard_only``: a seeded voice nobody has matched yet is left out)."""
        ids = [i for i in self.voices if not (heard_only and i in self.unheard)]
        if not ids:
            return {}
        sims = unit(np.stack([self.voices[i].total for i in ids])) @ emb.astype(np.float64)
        return {i: float(v) for i, v in zip(ids, sims, strict=True)}

    @staticmethod
    def agreement(embs: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
        """The mean direction of ``embs`` and each one's similarity to it."""
        m = unit(embs.astype(np.float64).sum(axis=0))
        return m.astype(np.float32), embs.astype(np.float64) @ m

    def closest(self, emb: npt.NDArray[np.float32], *, heard_only: bool = False) -> tuple[int | None, float]:
        sims = self.similarities(emb, heard_only=heard_only)
        if not sims:
            return None, -1.0
        sid = max(sims, key=sims.__getitem__)
        return sid, sims[sid]

    def claim_threshold(self, sid: int) -> float:
        """Similarity a strong window needs to join voice ``sid``."""
        return self.unheard.get(sid, self.config.assign_threshold)

    def add(self, sid: int, emb: npt.NDArray[np.float32]) -> None:
        self.voices[sid].total += emb
        self.voices[sid].count += 1
        self.unheard.pop(sid, None)

    def create(self, embs: list[npt.NDArray[np.float32]]) -> int:
        sid = self.next_id
        while sid in self.voices:  # NB: a seeded voice may hold the id
            sid += 1
        self.next_id = sid + 1
        self.voices[sid] = _Voice(total=np.sum(embs, axis=0).astype(np.float64), count=len(embs))
        return sid

    def merge(self, keep: int, gone: int) -> None:
        """Fold voice ``gone`` into ``keep`` (the facilitator merged a split voice)."""
        if gone in self.voices and keep in self.voices and keep != gone:
            self.voices[keep].total += self.voices[gone].total
            self.voices[keep].count += self.voices[gone].count
            del self.voices[gone]
            self.unheard.pop(keep, None)  # a voice of this meeting is now part of it


class StreamingDiarizer:
    """Assigns speech to speakers as audio and final VAD frames arrive.

    Parameters
    ----------
    config : DiarizationConfig
    encoder : a SpeakerEncoder (Resemblyzer by default).

    ``__call__(chunk, frames)`` takes the next audio chunk and the VAD frames that became final, and
    returns the speaker segments decided so far (a new voice's first words come a little late,
    after later words of known voices). ``flush()`` decides the rest at the
    end of the stream. ``records`` keeps every window for the post-meeting pass.
    """

    def __init__(self, config: DiarizationConfig, *, encoder: SpeakerEncoder) -> None:
        self.config = config
        self.encoder = encoder
        self.window = to_samples(config.window_s)
        self.step = to_samples(config.step_s)
        self.lead = (self.window - self.step) // 2  # samples from window start to its span start
        self.min_speech = to_samples(config.min_speech_s)
        self.timeout = to_samples(config.pending_timeout_s)
        self.keep_records = True  # False in a live meeting: nothing reads them, and they grow ~15 MB an hour
        self.reset()

    def reset(self) -> None:
        self.clustering = OnlineClustering(self.config)
        self.records: list[WindowRecord] = []  # every window, while ``keep_records`` (the post-meeting pass)
        self._audio = np.zeros(0, dtype=np.float32)
        self._mask = np.zeros(0, dtype=bool)
        self._buf_start = 0  # absolute sample of _audio[0] and _mask[0]
        self._audio_end = 0
        self._mask_end = 0
        self._next_window = 0  # index k of the next window; it starts at k * step
        self._span_end = 0  # where the last window's span ended
        self._pending: list[WindowRecord] = []
        self._last_label: int | None = None
        self._started = False
        self._stream_origin = 0

    # ------------------------------------------------------------------ buffering

    def _append(self, chunk: AudioChunk, frames: SpeechFrames) -> None:
        if chunk.start_sample > self._audio_end:  # dropped audio: silence
            gap = chunk.start_sample - self._audio_end
            self._audio = np.concatenate([self._audio, np.zeros(gap, np.float32)])
            self._audio_end += gap
        self._audio = np.concatenate([self._audio, chunk.samples])
        self._audio_end += len(chunk.samples)
        if len(frames.speech):
            if frames.start_sample > self._mask_end:
                self._mask = np.concatenate([self._mask, np.zeros(frames.start_sample - self._mask_end, bool)])
                self._mask_end = frames.start_sample
            new = speech_mask_samples(frames).astype(bool)[self._mask_end - frames.start_sample :]
            self._mask = np.concatenate([self._mask, new])
            self._mask_end += len(new)

    def _trim(self) -> None:
        """Drop audio that no future window will read (the next window starts here)."""
        keep_from = self._stream_origin + self._next_window * self.step
        drop = min(keep_from - self._buf_start, len(self._mask), len(self._audio))
        if drop > 0:
            self._audio = self._audio[drop:]
            self._mask = self._mask[drop:]
            self._buf_start += drop

    # ------------------------------------------------------------------ windows

    def _ready_windows(self, final: bool) -> list[tuple[WindowRecord, Samples | None]]:
        """Cut every window whose audio and VAD frames are complete (all remaining ones if final)."""
        out: list[tuple[WindowRecord, Samples | None]] = []
        limit = min(self._audio_end, self._mask_end)
        while not (final and self._span_end >= limit):
            start = self._stream_origin + self._next_window * self.step
            end = start + self.window
            span_end = start + self.lead + self.step
            if end > limit:
                if not final:
                    break
                span_end = limit  # the last window labels everything left
            lo, hi = start - self._buf_start, min(end, limit) - self._buf_start
            win_mask = self._mask[lo:hi]
            span_mask = self._mask[self._span_end - self._buf_start : span_end - self._buf_start]
            speech = self._audio[lo:hi][win_mask]
            fraction = float(win_mask.mean()) if len(win_mask) else 0.0
            enough = len(speech) >= max(self.min_speech, 1)
            rec = WindowRecord(
                index=self._next_window,
                span_start=self._span_end,
                span_end=span_end,
                speech=speech_intervals(span_mask, self._span_end),
                speech_fraction=fraction,
                strong=enough and fraction >= self.config.strong_fraction,
            )
            out.append((rec, speech if enough else None))
            self._span_end = span_end
            self._next_window += 1
        return out

    def _embed(self, recs: list[tuple[WindowRecord, Samples | None]]) -> None:
        todo = [(r, a) for r, a in recs if a is not None]
        if todo:
            embs = self.encoder.embed([a for _, a in todo])
            for (r, _), e in zip(todo, embs, strict=True):
                r.embedding = e

    # ------------------------------------------------------------------ assignment

    def _decide(self, rec: WindowRecord) -> None:
        """Label a window if it can be labelled now; it joins the release queue either way."""
        self._pending.append(rec)
        if rec.embedding is None:
            return  # takes the voice of the window released before it (see _resolve)
        if not rec.strong:  # too little speech to decide: the closest voice heard in this meeting
            rec.label, _ = self.clustering.closest(rec.embedding, heard_only=True)
            return
        sid, sim = self.clustering.closest(rec.embedding)
        if sid is not None and sim >= self.clustering.claim_threshold(sid):
            self.clustering.add(sid, rec.embedding)
            rec.label = sid

    def _try_new_voice(self) -> None:
        cfg = self.config
        cands = [r for r in self._pending if r.label is None and r.strong]
        if len(cands) < cfg.new_speaker_windows or len(self.clustering.voices) >= cfg.max_speakers:
            return
        embs = np.stack([r.embedding for r in cands])  # type: ignore[misc]
        mean, sims = self.clustering.agreement(embs)
        agree = [r for r, s in zip(cands, sims, strict=True) if s >= cfg.new_speaker_agreement]
        if len(agree) < cfg.new_speaker_windows:
            return
        sid, sim = self.clustering.closest(mean)
        if sid is not None and sim >= cfg.assign_threshold:
            for r in agree:  # the agreeing windows are a known voice after all
                r.label = sid
            self.clustering.unheard.pop(sid, None)
            return
        new = self.clustering.create([r.embedding for r in agree])  # type: ignore[misc]
        for r in agree:
            r.label = new

    def _resolve(self, now: int, final: bool) -> list[WindowRecord]:
        """Release every decided window at once; an undecided one waits for a new voice to form
        until it times out (so only a new person's first words are late)."""
        self._try_new_voice()
        done: list[WindowRecord] = []
        waiting: list[WindowRecord] = []
        for rec in self._pending:
            if rec.label is None and rec.speech:
                if rec.embedding is None and self._last_label is not None:
                    rec.label = self._last_label  # too little speech to tell: the voice goes on
                elif final or now - rec.span_end >= self.timeout:
                    self._settle(rec)  # False when nobody has a voice yet: it keeps waiting
            if rec.label is not None or not rec.speech or final:
                if rec.label is not None:
                    self._last_label = rec.label
                done.append(rec)  # a window without speech, or nobody's, is released unlabelled
            else:
                waiting.append(rec)
        self._pending = waiting
        return done

    def _settle(self, rec: WindowRecord) -> bool:
        """Give a timed-out window to the closest voice heard in this meeting. With none heard yet,
        the windows waiting with it go to the seeded voice they match (``_seed_for``: an enrolled
        person's short opening remark, too few windows for a new voice and each one under the
        seed's claim threshold); otherwise they start the first voice of the meeting. False if there is nothing to build a
        voice from yet."""
        sid: int | None
        if rec.embedding is not None:
            sid, _ = self.clustering.closest(rec.embedding, heard_only=True)
        else:
            sid = self._last_label
        if sid is None:
            sid = next((r.label for r in self._pending if r.label is not None), None)
        if sid is None:
            waiting = [r for r in self._pending if r.embedding is not None and r.label is None]
            if not waiting:
                return False
            embs = [r.embedding for r in waiting]
            sid = self._seed_for(waiting)
            if sid is not None:
                self.clustering.unheard.pop(sid, None)  # heard now
            else:
                sid = self.clustering.create(embs)  # type: ignore[arg-type]
            for r in waiting:
                r.label = sid
        rec.label = sid
        return True

    def _seed_for(self, waiting: list[WindowRecord]) -> int | None:
        """The seeded voice that these timed-out windows match: those that agree with the rest (as a
        new voice's must), at least two of them strong, reach its claim threshold together. None if
        there is none (a single window, or weak ones alone, never claim a seed here)."""
        _, sims = self.clustering.agreement(np.stack([r.embedding for r in waiting]))  # type: ignore[misc]
        agree = [r for r, sim in zip(waiting, sims, strict=True) if sim >= self.config.new_speaker_agreement]
        if sum(r.strong for r in agree) < 2:
            return None
        mean, _ = self.clustering.agreement(np.stack([r.embedding for r in agree]))  # type: ignore[misc]
        sid, sim = self.clustering.closest(mean)
        return sid if sid is not None and sim >= self.clustering.claim_threshold(sid) else None

    # ------------------------------------------------------------------ public

    def _segments(self, recs: list[WindowRecord]) -> list[SpeakerSegment]:
        return [SpeakerSegment(r.label, s, e) for r in recs for s, e in r.speech if r.label is not None]

    def _run(self, final: bool) -> list[SpeakerSegment]:
        cut = self._ready_windows(final)
        self._embed(cut)
        released: list[WindowRecord] = []
        for rec, _ in cut:
            if self.keep_records:
                self.records.append(rec)
            self._decide(rec)
            now = rec.span_end
            released += self._resolve(now, final=False)
        if final:
            released += self._resolve(self._span_end, final=True)
        self._trim()
        return self._segments(released)

    def __call__(self, chunk: AudioChunk, frames: SpeechFrames) -> list[SpeakerSegment]:
        if not self._started:
            self._started = True
            self._stream_origin = chunk.start_sample
            self._buf_start = self._audio_end = self._mask_end = self._span_end = chunk.start_sample
        self._append(chunk, frames)
        return self._run(final=False)

    def flush(self, frames: SpeechFrames | None = None) -> list[SpeakerSegment]:
        """End of stream: take the VAD's last frames and decide every remaining span."""
        if frames is not None and len(frames.speech):
            self._append(AudioChunk(np.zeros(0, np.float32), self._audio_end), frames)
        return self._run(final=True)

    def replay(self, records: list[WindowRecord]) -> list[SpeakerSegment]:
        """Decide recorded windows again, in their order, as if each had just been cut, and return
        every segment decided (the stream's end included). Their embeddings are reused, so no audio
        or encoder is needed: this tries other assignment settings on a recorded meeting. With the
        settings of the recording it gives the live labels exactly. Needs a diarizer that has not
        been fed audio; the records are copied, not relabelled."""
        if self._started:
            raise RuntimeError("replay expected a fresh diarizer; this one has been fed audio or replayed")
        self._started = True
        released: list[WindowRecord] = []
        for rec in records:
            rec = replace(rec, label=None)
            if self.keep_records:
                self.records.append(rec)
            self._decide(rec)
            released += self._resolve(rec.span_end, final=False)
        if records:
            released += self._resolve(records[-1].span_end, final=True)
        return self._segments(released)

    def seed(self, speaker: int, centroid: npt.NDArray[np.float32], *, windows: int = 1,
             claim_threshold: float | None = None) -> None:
        """Make ``speaker`` a known voice before it speaks (an enrolled person's profile).

        ``centroid`` has shape (dimension,) and counts as ``windows`` windows, so windows close to it
        are assigned at once, without the new-voice wait. New voices never take a seeded id.

        Until the voice is heard (a strong window of at least ``claim_threshold`` similarity,
        default ``assign_threshold``; a new voice's agreeing windows matching it; or, before anyone
        is heard, timed-out windows that agree and together reach ``claim_threshold``: see
        ``_settle``), it is only a prior: windows too weak to decide, other timed-out ones and
        provisional speech go to voices heard in this meeting, never to it, so a person nobody
        enrolled is not swallowed by it.
        """
        if speaker < 0 or speaker in self.clustering.voices or windows < 1:
            raise ValueError(f"seed expected a new speaker id >= 0 and windows >= 1, got {speaker} and {windows}")
        threshold = self.config.assign_threshold if claim_threshold is None else claim_threshold
        if not 0 < threshold < 1:
            raise ValueError(f"seed expected claim_threshold in (0, 1), got {claim_threshold!r}")
        vec = unit(np.asarray(centroid, dtype=np.float64))
        self.clustering.voices[speaker] = _Voice(total=vec * windows, count=windows)
        self.clustering.unheard[speaker] = threshold

    def undecided(self, tentative: SpeechFrames | None = None) -> list[SpeakerSegment]:
        """Speech heard but not yet released, each piece credited to its likeliest voice: a window
        waiting because it matches no voice well goes to the closest one (where a timeout would put
        it; a new voice takes it over when it forms); speech past the last window, and
        ``tentative`` VAD frames past the final ones, go to the voice speaking before it (the id a
        first voice would get, before anyone). Nothing here changes the diarizer's state."""
        new_id = self.clustering.next_id
        while new_id in self.clustering.voices:
            new_id += 1
        out: list[SpeakerSegment] = []
        who: int | None = self._last_label
        for r in self._pending:
            if r.embedding is not None:
                who, _ = self.clustering.closest(r.embedding, heard_only=True)  # where a timeout would put it
            who = new_id if who is None else who
            out += [SpeakerSegment(who, s, e) for s, e in r.speech]
        who = new_id if who is None else who
        lo = self._span_end - self._buf_start
        out += [SpeakerSegment(who, s, e) for s, e in speech_intervals(self._mask[max(0, lo) :], max(self._span_end, self._buf_start))]
        if tentative is not None and len(tentative.speech):
            mask = speech_mask_samples(tentative).astype(bool)
            skip = max(0, self._mask_end - tentative.start_sample)
            out += [SpeakerSegment(who, s, e) for s, e in speech_intervals(mask[skip:], tentative.start_sample + skip)]
        return out

    def decided_to(self) -> int:
        """The sample before which everything is decided: where the first window still waiting for a
        voice begins, else where the last window cut ends (nothing decided later starts before it)."""
        return self._pending[0].span_start if self._pending else self._span_end

    def merge(self, keep: int, gone: int) -> None:
        """The facilitator says voices ``gone`` and ``keep`` are one person."""
        self.clustering.merge(keep, gone)
        for r in self.records:
            if r.label == gone:
                r.label = keep
        if self._last_label == gone:
            self._last_label = keep
