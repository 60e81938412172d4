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

The larger voice keeps its id, so names given during the meeting stay with their people; two
voices that both carry a name (``protected``) are never merged. No I/O, no audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracker.audio import SAMPLE_RATE


@dataclass(frozen=True)
class VoicePassConfig:
    """Settings of the post-meeting pass (cosine similarities of unit embeddings)."""

    merge_threshold: float = 0.7  # two voices at least this similar are one person
    min_voice_s: float = 2.0  # a voice with less talk than this ...
    min_voice_share: float = 0.02  # ... and less than this share of the meeting's talk is folded
    fold_threshold: float = 0.2  # into its closest voice, when at least this similar


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
