"""The neural engine's post-meeting pass: the live voices looked at again with the whole meeting.

Live, a voice is created on a few seconds of evidence and never revisited, so a person whose voice
changed (a cold, a turn away from the microphone) can end up as two voices, and a laugh or a door
as a small phantom voice. Afterwards every embedding kept during the meeting (``EmbeddingRecord``:
embeddings, never audio) is available at once:

1. each live voice's profile is the speech-weighted mean of its records;
2. voices are merged, closest pair first (average linkage over profiles), while the two are at
   least ``merge_threshold`` similar: one person, one voice;
3. a voice with less than ``min_voice_s`` of talk (and under ``min_voice_share`` of the meeting) is
   folded into its closest voice when at least ``fold_threshold`` similar: its few seconds most
   likely belong to that person, and a phantom never becomes a person in the report.

Before merging, a voice far quieter than the meeting that talks over the meeting's speakers
(``BackgroundRule``: ``db`` below the level of most of the meeting's speech, and at least
``overlap`` of its talk under someone else's) is set aside as a conversation in
the background, not a person at the table: its speech is credited to nobody. People at a table
take turns; a conversation behind them does not, so a quiet person who waits for a pause stays.

The larger voice keeps its id, so names given during the meeting stay with their people; two
voices that both carry a name (``protected``) are never merged. No I/O, no audio.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracker.audio import SAMPLE_RATE


@dataclass(frozen=True)
class BackgroundRule:
    """When a voice is a conversation in the background, not a person at the table: its speech is
    ``db`` or more below the meeting's speech level and at least ``overlap`` of it is under another
    voice (people at a table take turns; a conversation behind them does not). The live clustering
    (``tracker.stages.voices``) and the post-meeting pass both ask it."""

    db: float = 12.0
    overlap: float = 0.25

    def holds(self, level_db: float, meeting_db: float, overlapped_share: float) -> bool:
        return level_db <= meeting_db - self.db and overlapped_share >= self.overlap


@dataclass(frozen=True)
class VoicePassConfig:
    """Settings of the post-meeting pass (cosine similarities of unit embeddings)."""

    merge_threshold: float = 0.7  # two voices at least this similar are one person
    min_voice_s: float = 2.0  # a voice with less talk than this ...
    min_voice_share: float = 0.02  # ... and less than this share of the meeting's talk is folded
    fold_threshold: float = 0.2  # into its closest voice, when at least this similar
    background: BackgroundRule | None = BackgroundRule()  # None: no voice is ever background


def _unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)
    return out


def voice_mapping(
    records: Iterable[tuple[int | None, npt.NDArray[np.float32], int]],
    talk: dict[int, int],
    config: VoicePassConfig,
    *,
    protected: Sequence[int] = (),
) -> dict[int, int]:
    """Which live voice each live voice becomes (only voices that change are listed).

    ``records``: (live label, unit embedding, samples of clean speech) for each kept embedding;
    ``talk``: samples of talk of each live voice.
    """
    sums: dict[int, npt.NDArray[np.float64]] = {}
    for label, emb, speech in records:
        if label is None or speech <= 0:
            continue
        v = np.asarray(emb, np.float64) * speech
        sums[label] = sums[label] + v if label in sums else v
    groups: dict[int, list[int]] = {sid: [sid] for sid in sums}
    prof = {sid: _unit(v) for sid, v in sums.items()}
    named = set(protected)

    def head(members: list[int]) -> int:
        return max(members, key=lambda s: (s in named, talk.get(s, 0), -s))

    def sim(a: int, b: int) -> float:
        pa = np.stack([prof[s] for s in groups[a]])
        pb = np.stack([prof[s] for s in groups[b]])
        return float((pa @ pb.T).mean())

    while len(groups) > 1:
        keys = list(groups)
        best, pair = -2.0, (0, 0)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if len(named & set(groups[a])) and len(named & set(groups[b])):
                    continue
                s = sim(a, b)
                if s > best:
                    best, pair = s, (a, b)
        if best < config.merge_threshold:
            break
        a, b = pair
        members = groups.pop(a) + groups.pop(b)
        groups[head(members)] = members

    out: dict[int, int] = {}
    for members in groups.values():
        h = head(members)
        out.update({s: h for s in members if s != h})

    total = sum(talk.values())
    group_talk = {h: sum(talk.get(s, 0) for s in members) for h, members in ((head(m), m) for m in groups.values())}
    heads = {head(m): m for m in groups.values()}
    small = [h for h, t in group_talk.items()
             if t < config.min_voice_s * SAMPLE_RATE and t < config.min_voice_share * max(total, 1) and h not in named]
    for h in small:
        others = [o for o in heads if o != h and o not in small]
        if not others:
            continue
        ph = _unit(np.mean([prof[s] for s in heads[h]], axis=0))
        sims = {o: float(ph @ _unit(np.mean([prof[s] for s in heads[o]], axis=0))) for o in others}
        o = max(sims, key=sims.__getitem__)
        if sims[o] >= config.fold_threshold:
            for s in heads[h]:
                out[s] = o
    return out


@dataclass(frozen=True)
class RegroupConfig:
    """Settings of the whole-meeting regrouping of kept embeddings (cosine similarities)."""

    threshold: float = 0.4  # two groups of embeddings at least this alike (average linkage) are one person
    min_new_s: float = 8.0  # clean speech a group that matches no live voice needs to become a new voice (3 s split far-field voices)
    max_items: int = 2000  # embeddings clustered at most (memory grows with the square); the rest join the closest group


def _groups(embs: npt.NDArray[np.float64], config: RegroupConfig) -> npt.NDArray[np.int64]:
    """Average-linkage groups of unit rows; beyond ``max_items`` an even sample is clustered and
    every other row joins the group whose mean it is closest to."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embs)
    pick = np.linspace(0, n - 1, min(n, config.max_items)).round().astype(np.int64)
    sample: npt.NDArray[np.int64] = np.asarray(fcluster(linkage(embs[pick], method="average", metric="cosine"),
                                                        t=1.0 - config.threshold, criterion="distance"), dtype=np.int64) - 1
    if len(pick) == n:
        return sample
    means = _unit(np.stack([embs[pick][sample == g].mean(axis=0) for g in range(int(sample.max()) + 1)]))
    out: npt.NDArray[np.int64] = np.asarray(np.argmax(embs @ means.T, axis=1), dtype=np.int64)
    out[pick] = sample
    return out


Record = tuple[int | None, int, int, npt.NDArray[np.float32], int]  # (live label, start, end, unit embedding, clean speech)


def regroup(records: Sequence[Record], segments: Sequence[tuple[int, int, int]],
            config: RegroupConfig) -> list[tuple[int, int, int]]:
    """Relabel decided segments from a whole-meeting clustering of the kept embeddings
    (``regroup_labels``, then ``relabel``)."""
    return relabel(records, regroup_labels(records, segments, config), segments)


def regroup_labels(records: Sequence[Record], segments: Sequence[tuple[int, int, int]],
                   config: RegroupConfig) -> list[int | None]:
    """Each record's voice after a whole-meeting clustering of the kept embeddings.

    ``records``: (live label, start, end, unit embedding, clean speech samples); ``segments``:
    (live label, start, end), for the next free id. The embeddings are clustered together (average
    linkage); each group is given, one-to-one, the live voice most of its speech had, so the live ids
    (and the names given during the meeting) stay with their people; a group that wins no live voice
    becomes a new voice when it holds ``min_new_s`` of clean speech in two embeddings or more, else
    it stays with its majority voice. A record with no live label or no clean speech keeps its label.
    """
    from scipy.optimize import linear_sum_assignment

    keep = [i for i, r in enumerate(records) if r[0] is not None and r[4] > 0]
    out: list[int | None] = [r[0] for r in records]
    if len(keep) < 2:
        return out
    recs = [records[i] for i in keep]
    groups = _groups(_unit(np.stack([r[3] for r in recs]).astype(np.float64)), config)
    labels = sorted({int(r[0]) for r in recs if r[0] is not None})
    col = {label: i for i, label in enumerate(labels)}
    mass = np.zeros((int(groups.max()) + 1, len(labels)))
    for g, r in zip(groups, recs, strict=True):
        mass[g, col[int(r[0] or 0)]] += r[4]
    rows, cols = linear_sum_assignment(-mass)
    new_label = {int(g): labels[c] for g, c in zip(rows, cols, strict=True) if mass[g, c] > 0}
    next_id = max([*labels, *(s[0] for s in segments)]) + 1
    for g in range(mass.shape[0]):
        if g not in new_label:
            if mass[g].sum() >= config.min_new_s * SAMPLE_RATE and (groups == g).sum() >= 2:
                new_label[g], next_id = next_id, next_id + 1
            else:
                new_label[g] = labels[int(np.argmax(mass[g]))]
    for i, g in zip(keep, groups, strict=True):
        out[i] = new_label[int(g)]
    return out


def relabel(records: Sequence[Record], new: Sequence[int | None],
            segments: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Each segment takes the majority new label (by overlap) of the records of its own live voice
    that cover it (``new[i]`` for ``records[i]``); a segment no record covers keeps its label."""
    by_label: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[int]]] = {}
    labels = sorted({int(r[0]) for r, n in zip(records, new, strict=True) if r[0] is not None and n is not None and r[4] > 0})
    if not labels:
        return list(segments)
    for label in labels:
        idx = sorted((i for i, r in enumerate(records) if r[0] == label and new[i] is not None and r[4] > 0),
                     key=lambda i: records[i][1])
        by_label[label] = (np.array([records[i][1] for i in idx], np.int64),
                           np.array([records[i][2] for i in idx], np.int64), [int(new[i] or 0) for i in idx])
    longest = max(r[2] - r[1] for r in records)
    out: list[tuple[int, int, int]] = []
    for label, start, end in segments:
        if label not in by_label:
            out.append((label, start, end))
            continue
        starts, ends, names = by_label[label]
        lo, hi = int(np.searchsorted(starts, start - longest)), int(np.searchsorted(starts, end))
        votes: dict[int, int] = {}
        for i in range(lo, hi):
            o = min(end, int(ends[i])) - max(start, int(starts[i]))
            if o > 0:
                votes[names[i]] = votes.get(names[i], 0) + o
        out.append((max(votes, key=votes.__getitem__) if votes else label, start, end))
    return out


def speech_level(levels: Sequence[float], speech: Sequence[int]) -> float:
    """The level (dB) that half of the speech is louder than: the median weighted by clean speech."""
    order = np.argsort(levels)
    cum = np.cumsum(np.asarray(speech, np.float64)[order])
    return float(np.asarray(levels, np.float64)[order][int(np.searchsorted(cum, cum[-1] / 2))])


def overlapped(segments: Sequence[tuple[int, int, int]]) -> dict[int, float]:
    """For each voice of (voice, start, end) ``segments``, the share of its talk during which
    another voice talks too."""
    bounds = sorted({b for _, a, e in segments for b in (a, e)})
    if len(bounds) < 2:
        return {}
    index = {b: i for i, b in enumerate(bounds)}
    cover: dict[int, npt.NDArray[np.bool_]] = {}
    for sid, a, e in segments:
        if e > a:
            cover.setdefault(sid, np.zeros(len(bounds) - 1, bool))[index[a] : index[e]] = True
    width = np.diff(np.asarray(bounds, np.float64))
    active = np.sum(list(cover.values()), axis=0)
    out = {}
    for sid, mine in cover.items():
        talk = float(width[mine].sum())
        out[sid] = float(width[mine & (active > 1)].sum()) / talk if talk else 0.0
    return out


def background_voices(labels: Sequence[int | None], levels: Sequence[float | None], speech: Sequence[int],
                      segments: Sequence[tuple[int, int, int]], config: VoicePassConfig, *,
                      protected: Collection[int] = ()) -> set[int]:
    """Voices ``config.background`` holds to be background, their overlap measured on the (voice,
    start, end) ``segments``.

    ``labels``, ``levels`` (dB, None: not measured) and ``speech`` (samples) describe each kept
    embedding. The meeting's level is the speech-weighted median over every embedding; a voice's
    level the same median over its own. A voice the facilitator named is never background.
    """
    rule = config.background
    if rule is None:
        return set()
    measured = [(int(lab), float(lev), sp) for lab, lev, sp in zip(labels, levels, speech, strict=True)
                if lab is not None and lev is not None and sp > 0]
    if not measured:
        return set()
    meeting = speech_level([m[1] for m in measured], [m[2] for m in measured])
    over = overlapped(segments)
    out = set()
    for label in {m[0] for m in measured} - set(protected):
        own = [m for m in measured if m[0] == label]
        if rule.holds(speech_level([m[1] for m in own], [m[2] for m in own]), meeting, over.get(label, 0.0)):
            out.add(label)
    return out


def final_pass(records: Sequence[Record], segments: Sequence[tuple[int, int, int]], regroup_config: RegroupConfig,
               config: VoicePassConfig, *, protected: Collection[int] = (),
               levels: Sequence[float | None] | None = None) -> list[tuple[int, int, int]]:
    """The whole post-meeting pass over (live label, start, end) ``segments``: regroup the records
    (``regroup_labels``, ``relabel``), set aside background voices (``background_voices``, when the
    records' ``levels`` are given), then merge and fold voices (``voice_mapping``).

    The merge compares the voices as regrouped (each record under its new voice): a live voice that
    held two people's speech is judged on what is left of it after the regrouping, not on the
    mixture, which looks like the person it borrowed from.
    """
    return final_voices(records, segments, regroup_config, config, protected=protected, levels=levels)[0]


def final_voices(records: Sequence[Record], segments: Sequence[tuple[int, int, int]], regroup_config: RegroupConfig,
                 config: VoicePassConfig, *, protected: Collection[int] = (),
                 levels: Sequence[float | None] | None = None) -> tuple[list[tuple[int, int, int]], list[int | None]]:
    """``final_pass``, and each record's voice after it (None: set aside as background, or never
    labelled): what a diagnosis needs to look at the voices the pass leaves."""
    new = regroup_labels(records, segments, regroup_config)
    segs = relabel(records, new, segments)
    if levels is not None:
        gone = background_voices(new, levels, [r[4] for r in records], segs, config, protected=protected)
        segs = [s for s in segs if s[0] not in gone]
        new = [None if n in gone else n for n in new]
    talk: dict[int, int] = {}
    for sid, a, b in segs:
        talk[sid] = talk.get(sid, 0) + b - a
    mapping = voice_mapping(((label, r[3], r[4]) for label, r in zip(new, records, strict=True)), talk, config,
                            protected=list(protected))
    return ([(mapping.get(sid, sid), a, b) for sid, a, b in segs],
            [None if label is None else mapping.get(label, label) for label in new])
