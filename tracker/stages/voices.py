"""The meeting's voices: local speakers of each chunk mapped onto people, incrementally.

Every chunk brings up to three local speakers, some with an embedding of their clean speech (the
frames where nobody else talks). ``VoiceClustering.assign`` maps them onto the meeting's voices:

- one-to-one inside a chunk: two local speakers are never the same voice (Hungarian assignment);
- a local speaker that continues one of the previous chunk's keeps its voice unless its own
  embedding clearly says otherwise (``keep_threshold``);
- otherwise the closest voice, when similar enough (``assign_threshold``);
- otherwise it becomes or joins a *candidate* (a negative id): a new voice exists only on sustained
  evidence (``new_voice_embeddings`` embeddings over at least ``new_voice_s`` of clean speech that
  agree with one another and are far from every voice); until then its speech waits.

Centroids are updated only from clean speech assigned with confidence. Voice ids are never reused,
so a name given on the dashboard keeps its meaning.

A candidate that becomes a voice while it is far quieter than the meeting and talks over it
(``voice_pass.BackgroundRule``, against the level of most of the voices' clean speech and the share
of its speech under another local speaker) is a conversation in the background: it becomes a *background* voice, which later speech of it still joins, but which is
never shown or counted (``VoiceClustering.background``). No I/O, no audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from tracker.stages.voice_pass import BackgroundRule, speech_level

Vector = npt.NDArray[np.float32]

LEVEL_FLOOR, LEVEL_BINS = -120, 121  # the meeting's level is kept in 1 dB bins from -120 to 0 dB


def unit(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    v = np.asarray(x, dtype=np.float64)
    out: npt.NDArray[np.float64] = v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)
    return out


@dataclass(frozen=True)
class VoiceConfig:
    """Thresholds of the incremental clustering (cosine similarities of unit embeddings)."""

    assign_threshold: float = 0.5  # at least this close to a voice's centroid to be that voice
    keep_threshold: float = 0.5  # a continued local speaker keeps its voice unless it falls below this
    update_threshold: float = 0.5  # a clean embedding at least this close updates the centroid
    new_voice_embeddings: int = 3  # embeddings a candidate needs before it becomes a voice
    new_voice_s: float = 1.5  # seconds of clean speech a candidate needs
    new_voice_agreement: float = 0.5  # its embeddings' mean similarity to their mean direction
    new_voice_threshold: float = 0.5  # and at most this close to every voice (between it and assign: wait, then the closest)
    max_voices: int = 30  # beyond this, candidates go to the closest voice
    background: BackgroundRule | None = BackgroundRule()  # None: no new voice is ever background

    def __post_init__(self) -> None:
        for name in ("assign_threshold", "keep_threshold", "update_threshold", "new_voice_agreement"):
            v = getattr(self, name)
            if not -1 < v < 1:
                raise ValueError(f"VoiceConfig.{name} expected a cosine similarity in (-1, 1), got {v!r}")
        if self.new_voice_embeddings < 1:
            raise ValueError(f"VoiceConfig.new_voice_embeddings expected >= 1, got {self.new_voice_embeddings!r}")


@dataclass
class Voice:
    total: npt.NDArray[np.float64]  # sum of unit embeddings
    count: int
    claim: float | None = None  # a seeded voice not yet heard: the similarity needed to claim it
    background: bool = False  # a conversation in the background: joined, never counted

    @property
    def centroid(self) -> npt.NDArray[np.float64]:
        return unit(self.total)


@dataclass
class Candidate:
    """Speech that matches no voice yet: it waits for evidence."""

    embeddings: list[npt.NDArray[np.float64]] = field(default_factory=list)
    clean_samples: int = 0
    levels: list[tuple[float, int]] = field(default_factory=list)  # (dB, clean samples) of its embeddings
    active_samples: int = 0  # its speech, and how much of it was under another local speaker
    overlapped_samples: int = 0

    def mean(self) -> npt.NDArray[np.float64] | None:
        return unit(np.sum(self.embeddings, axis=0)) if self.embeddings else None

    def agreement(self) -> float:
        if len(self.embeddings) < 2:
            return 1.0
        m = self.mean()
        assert m is not None
        return float(np.mean(np.stack(self.embeddings) @ m))


@dataclass(frozen=True)
class Local:
    """One local speaker of a chunk, as the clustering sees it."""

    embedding: Vector | None  # unit embedding of its clean speech, or None (too little of it)
    clean_samples: int  # samples of clean speech in the chunk
    previous: int | None  # the track of the previous chunk's speaker it continues, if any
    level_db: float | None = None  # loudness of its clean speech (dB of full scale), None: not measured
    active_samples: int = 0  # samples it talks in the chunk's newest step ...
    overlapped_samples: int = 0  # ... and of them, under another local speaker


class VoiceClustering:
    """Incremental voices and candidates (see the module docstring)."""

    def __init__(self, config: VoiceConfig) -> None:
        self.config = config
        self.voices: dict[int, Voice] = {}
        self.candidates: dict[int, Candidate] = {}
        self.next_id = 0
        self._next_candidate = -1
        self.resolved: dict[int, int] = {}  # candidate or merged voice -> the voice it now is
        self.seeded: dict[int, Voice] = {}  # the seeded voices as seeded, for every new meeting
        self._levels = np.zeros(LEVEL_BINS)  # clean speech of counted voices by level (1 dB bins from -120 dB)

    def reset(self) -> None:
        """Forget the meeting's voices; keep the seeded ones (unheard again)."""
        self.voices = {sid: Voice(v.total.copy(), v.count, v.claim) for sid, v in self.seeded.items()}
        self.candidates = {}
        self.resolved = {}
        self.next_id = 0
        self._next_candidate = -1
        self._levels = np.zeros(LEVEL_BINS)

    @property
    def background(self) -> set[int]:
        """The voices that are a conversation in the background (never shown or counted)."""
        return {sid for sid, v in self.voices.items() if v.background}

    def level(self) -> float | None:
        """The level (dB) half of the counted voices' clean speech is louder than; None before any."""
        cum = np.cumsum(self._levels)
        if cum[-1] <= 0:
            return None
        return float(np.searchsorted(cum, cum[-1] / 2) + LEVEL_FLOOR)

    def _heard(self, sid: int, loc: Local) -> None:
        if loc.level_db is not None and loc.clean_samples > 0:
            self._count_level(sid, [(loc.level_db, loc.clean_samples)])

    def _count_level(self, sid: int, levels: list[tuple[float, int]]) -> None:
        if self.voices[sid].background:
            return
        for db, n in levels:
            self._levels[int(np.clip(round(db) - LEVEL_FLOOR, 0, LEVEL_BINS - 1))] += n

    def _is_background(self, cand: Candidate) -> bool:
        c = self.config
        meeting = self.level()
        if c.background is None or meeting is None or not cand.levels or not cand.active_samples:
            return False
        own = speech_level([db for db, _ in cand.levels], [n for _, n in cand.levels])
        return c.background.holds(own, meeting, cand.overlapped_samples / cand.active_samples)

    def track(self, t: int) -> int:
        """What a track (a voice, a merged voice or a candidate) now is."""
        while t in self.resolved:
            t = self.resolved[t]
        return t

    # --- voices -------------------------------------------------------------------------------

    def seed(self, speaker: int, centroid: Vector, *, weight: int, claim_threshold: float | None) -> None:
        if speaker < 0 or speaker in self.voices or weight < 1:
            raise ValueError(f"seed expected a new speaker id >= 0 and weight >= 1, got {speaker} and {weight}")
        claim = self.config.assign_threshold if claim_threshold is None else claim_threshold
        self.voices[speaker] = Voice(total=unit(centroid) * weight, count=weight, claim=claim)
        self.seeded[speaker] = Voice(total=unit(centroid) * weight, count=weight, claim=claim)

    def new_voice(self, embeddings: list[npt.NDArray[np.float64]]) -> int:
        sid = self.next_id
        while sid in self.voices:
            sid += 1
        self.next_id = sid + 1
        total = np.sum(embeddings, axis=0) if embeddings else np.zeros(0)
        self.voices[sid] = Voice(total=np.asarray(total, np.float64), count=len(embeddings))
        return sid

    def merge(self, keep: int, gone: int) -> None:
        keep, gone = self.track(keep), self.track(gone)
        if keep == gone:
            return
        a, b = self.voices.get(keep), self.voices.get(gone)
        if a is not None and b is not None and a.total.shape == b.total.shape:
            a.total = a.total + b.total
            a.count += b.count
            a.claim = None
        self.voices.pop(gone, None)
        self.candidates.pop(gone, None)
        self.resolved[gone] = keep

    def similarities(self, emb: npt.NDArray[np.float64]) -> dict[int, float]:
        ids = [i for i, v in self.voices.items() if v.count > 0 and v.total.shape == emb.shape]
        if not ids:
            return {}
        sims = np.stack([self.voices[i].centroid for i in ids]) @ emb
        return {i: float(s) for i, s in zip(ids, sims, strict=True)}

    def closest(self, emb: npt.NDArray[np.float64] | None, *, heard_only: bool = True) -> tuple[int | None, float]:
        if emb is None:
            return None, -1.0
        sims = {i: s for i, s in self.similarities(emb).items() if not (heard_only and self.voices[i].claim is not None)}
        if not sims:
            return None, -1.0
        best = max(sims, key=sims.__getitem__)
        return best, sims[best]

    def _threshold(self, sid: int) -> float:
        claim = self.voices[sid].claim
        return self.config.assign_threshold if claim is None else claim

    def _update(self, sid: int, emb: npt.NDArray[np.float64], sim: float) -> None:
        v = self.voices[sid]
        if sim >= self.config.update_threshold or v.count == 0:
            v.total = emb.copy() if v.count == 0 else v.total + emb
            v.count += 1
            v.claim = None

    # --- one chunk ------------------------------------------------------------------------------

    def assign(self, locals_: list[Local]) -> list[int]:
        """The track of each local speaker of one chunk (a voice id >= 0 or a candidate id < 0)."""
        n = len(locals_)
        out: list[int | None] = [None] * n
        prev = [None if loc.previous is None else self.track(loc.previous) for loc in locals_]
        embs = [None if loc.embedding is None else unit(loc.embedding) for loc in locals_]
        ids = list(self.voices)
        # 1. voices by embedding, one-to-one, with continuity as a bonus
        if ids:
            score = np.full((n, len(ids)), -np.inf)
            raw = np.zeros((n, len(ids)))
            for i, e in enumerate(embs):
                if e is None:
                    if prev[i] is not None and prev[i] in ids:  # continuity alone holds its voice
                        score[i, ids.index(prev[i])] = 1.0 + self._threshold(prev[i])  # type: ignore[arg-type]
                    continue
                sims = self.similarities(e)
                for j, sid in enumerate(ids):
                    if sid not in sims:
                        continue
                    s = raw[i, j] = sims[sid]
                    if prev[i] == sid and s >= self.config.keep_threshold:
                        score[i, j] = max(s, self._threshold(sid)) + 1.0  # continuity wins unless the voice clearly differs
                    elif s >= self._threshold(sid):
                        score[i, j] = s
            rows, cols = linear_sum_assignment(np.where(np.isfinite(score), -score, 1e6))
            for i, j in zip(rows, cols, strict=True):
                if np.isfinite(score[i, j]):
                    out[i] = ids[j]
                    self._heard(ids[j], locals_[i])
                    e = embs[i]
                    if e is not None and raw[i, j] >= self.config.update_threshold:
                        self._update(ids[j], e, float(raw[i, j]))
        # 2. no embedding: continuity alone (never onto a voice another local speaker holds)
        used = {t for t in out if t is not None}
        for i in range(n):
            if out[i] is None and embs[i] is None and prev[i] is not None and prev[i] not in used:
                out[i] = prev[i]
                used.add(prev[i])  # type: ignore[arg-type]
        # 3. the rest: candidates
        for i in range(n):
            if out[i] is not None:
                continue
            p = prev[i]
            if p is not None and p < 0 and p in self.candidates and p not in used:
                cid = p
            else:
                cid = self._next_candidate
                self._next_candidate -= 1
                self.candidates[cid] = Candidate()
            cand = self.candidates[cid]
            e = embs[i]
            loc = locals_[i]
            if e is not None:
                cand.embeddings.append(e)
                cand.clean_samples += loc.clean_samples
                if loc.level_db is not None:
                    cand.levels.append((loc.level_db, loc.clean_samples))
            cand.active_samples += loc.active_samples
            cand.overlapped_samples += loc.overlapped_samples
            out[i] = cid
            used.add(cid)
        return [int(t) for t in out]  # type: ignore[arg-type]

    def promote(self, sample_rate: int) -> list[tuple[int, int]]:
        """Candidates with enough evidence become voices (or turn out to be one): (candidate, voice)."""
        c = self.config
        done: list[tuple[int, int]] = []
        for cid, cand in list(self.candidates.items()):
            m = cand.mean()
            if m is None or len(cand.embeddings) < c.new_voice_embeddings or cand.clean_samples < c.new_voice_s * sample_rate:
                continue
            sid, sim = self.closest(m, heard_only=False)
            if sid is not None and sim >= self._threshold(sid):
                self._absorb(cid, sid)
            elif (sid is None or sim < c.new_voice_threshold) and cand.agreement() >= c.new_voice_agreement \
                    and len(self.voices) < c.max_voices:
                self.resolved[cid] = self.new_voice(cand.embeddings)
                self.voices[self.resolved[cid]].background = self._is_background(cand)
                self._count_level(self.resolved[cid], cand.levels)
                del self.candidates[cid]
            else:
                continue  # not clearly anyone, not clearly someone new: more evidence, or ``force``
            done.append((cid, self.resolved[cid]))
        return done

    def force(self, cid: int) -> int:
        """A candidate whose speech must be decided now, with whatever evidence it has."""
        cand = self.candidates[cid]
        m = cand.mean()
        sid, _ = self.closest(m)
        if sid is None:
            sid, _ = self.closest(m, heard_only=False)
        if sid is None:
            if m is None and self.voices:
                sid = max(self.voices, key=lambda i: self.voices[i].count)
            else:
                self.resolved[cid] = self.new_voice(cand.embeddings)
                del self.candidates[cid]
                return self.resolved[cid]
        self._absorb(cid, sid)
        return sid

    def _absorb(self, cid: int, sid: int) -> None:
        cand = self.candidates.pop(cid)
        self._count_level(sid, cand.levels)
        for e in cand.embeddings:
            self._update(sid, e, float(e @ self.voices[sid].centroid) if self.voices[sid].count else 1.0)
        self.resolved[cid] = sid

    def drop_candidates(self, keep: set[int]) -> None:
        """Forget candidates that hold no undecided speech and no current local speaker."""
        for cid in [c for c in self.candidates if c not in keep]:
            del self.candidates[cid]

    def guess(self, t: int) -> int:
        """The voice a track would be shown as now (a candidate: its closest voice, or the id a new
        voice would get)."""
        t = self.track(t)
        if t >= 0:
            return t
        cand = self.candidates.get(t)
        sid, sim = self.closest(None if cand is None else cand.mean())
        if sid is not None and sim >= self.config.keep_threshold:
            return sid
        nid = self.next_id
        while nid in self.voices:
            nid += 1
        return nid
