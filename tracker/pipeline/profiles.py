"""Voice profiles: an enrolled person's average voice vector, and matching live voices against them.

A profile is the mean direction of the speaker embeddings of a few seconds of one person's speech
(never audio). It is tied to the embedding model that made it (``model_id``): a profile is only
ever compared with embeddings of the same model. Plain classes, no I/O: the store keeps profiles
(``tracker.store.storage``), the session and the CLI move them in and out.

The match threshold ``MATCH_THRESHOLD`` was set from ``scripts/calibrate_profiles.py`` on real
speech (AMI meetings); docs/profiles.md gives the table it was chosen from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.embedding import SpeakerEncoder
from tracker.pipeline.engine import VoiceMemory
from tracker.audio import seconds
from tracker.stages.accounting import Accountant
from tracker.segments import Profile, SpeakerSegment
from tracker.stages.diarization import WindowRecord, unit

Vector = npt.NDArray[np.float32]

# Cosine similarity of a voice (the mean of >= MATCH_MIN_WINDOWS windows) to a profile needed to
# name it from the profile. Measured (docs/profiles.md, scripts/calibrate_profiles.py): on the AMI
# dev excerpts, 4 s voices scored 0.854 or more (median 0.903) against their own profile (11 trials) and at most 0.816
# against other people's (283 trials); 0.825 gave 0 false accepts and 0 misses there, and on the
# espeak-ng sanity set too. Little data: see the doc.
MATCH_THRESHOLD = 0.825
MATCH_MIN_WINDOWS = 10  # windows (10 x 0.4 s = 4 s of speech) before a new voice is compared with profiles
ENROLL_MIN_SPEECH_S = 3.0  # seconds of clear speech an enrollment needs
ENROLL_MIN_WINDOWS = 6  # strong windows (each labels 0.4 s) an enrollment needs
# Two voices: the enrollment's windows split into two groups, each with at least this share of the
# windows, whose mean voices are less similar than this (one person's halves stay above it).
TWO_VOICES_MIN_SHARE = 0.2
TWO_VOICES_SIMILARITY = 0.75
SEED_WEIGHT_WINDOWS = MATCH_MIN_WINDOWS  # a seeded voice counts as 4 s of speech at most: after a few seconds in the room, today's voice weighs as much as the profile
PROFILE_SPEAKER_BASE = 1000  # voice ids of seeded profiles start here, so guests stay "Guest 1", "Guest 2", ...


def model_id(encoder: SpeakerEncoder) -> str:
    """The stable identifier of an embedding model: its name (with version) and dimension.

    ``resemblyzer-ge2e-0.1.4/256``. Profiles of different identifiers are never compared.
    """
    return f"{encoder.name}/{encoder.dimension}"


class EnrollmentError(ValueError):
    """The enrollment speech cannot make a profile; the message asks for a retake and says why."""


@dataclass(frozen=True)
class EnrollmentVoice:
    """What enrollment speech gave: the mean voice (unit, shape (dimension,)) and how much went in."""

    embedding: Vector
    windows: int
    speech_s: float


def two_groups(embs: npt.NDArray[np.float64], *, iterations: int = 10) -> tuple[npt.NDArray[np.bool_], float]:
    """Split unit rows into two groups (2-means on the sphere, farthest-point start).

    Returns the mask of the second group and the cosine similarity of the two groups' means.
    """
    mean = unit(embs.sum(axis=0))
    a = embs[int(np.argmin(embs @ mean))]
    b = embs[int(np.argmin(embs @ a))]
    centres = np.stack([a, b])
    mask = np.zeros(len(embs), dtype=bool)
    for _ in range(iterations):
        mask = (embs @ centres[1]) > (embs @ centres[0])
        if mask.all() or not mask.any():
            return mask, 1.0
        centres = unit(np.stack([embs[~mask].sum(axis=0), embs[mask].sum(axis=0)]))
    return mask, float(centres[0] @ centres[1])


def enrollment_voice(records: Iterable[WindowRecord]) -> EnrollmentVoice:
    """The mean voice of enrollment speech, from the diarizer's windows over it.

    Raises ``EnrollmentError`` (asking for a retake) when there is no speech, too little, or the
    windows hold two voices rather than one.
    """
    recs = list(records)
    speech_s = seconds(sum(r.speech_samples for r in recs))
    strong = [r for r in recs if r.strong and r.embedding is not None]
    if speech_s < 0.2 and not strong:
        raise EnrollmentError("no speech was heard; expected a few seconds of one person speaking close to the "
                              "microphone. Please retake: say your name and what you work on.")
    if len(strong) < ENROLL_MIN_WINDOWS or speech_s < ENROLL_MIN_SPEECH_S:
        raise EnrollmentError(f"the speech was too short ({speech_s:.1f} s heard); expected at least "
                              f"{ENROLL_MIN_SPEECH_S:.0f} s of one person speaking. Please retake and keep talking "
                              "a little longer: say your name and what you work on.")
    embs = unit(np.stack([r.embedding for r in strong]).astype(np.float64))  # type: ignore[misc]
    mask, sim = two_groups(embs)
    smaller = min(int(mask.sum()), int((~mask).sum())) / len(embs)
    if smaller >= TWO_VOICES_MIN_SHARE and sim < TWO_VOICES_SIMILARITY:
        raise EnrollmentError(f"two voices were heard (their voices differ: similarity {sim:.2f}); expected one "
                              "person. Please retake with only the person enrolling speaking.")
    return EnrollmentVoice(unit(embs.sum(axis=0)).astype(np.float32), len(strong), speech_s)


def windows_between(records: Sequence[WindowRecord], start_sample: int, end_sample: int | None = None) -> list[WindowRecord]:
    """The windows whose labelled span lies in [start_sample, end_sample) (stream samples)."""
    return [r for r in records if r.span_start >= start_sample and (end_sample is None or r.span_end <= end_sample)]


class ProfileMatcher:
    """Finds the profile a voice belongs to, among profiles of one embedding model.

    Parameters
    ----------
    profiles : any profiles; those of other models are set aside in ``other_models`` and never compared.
    model : the model identifier of the embeddings to match (``model_id(encoder)``).
    threshold : cosine similarity a voice needs to a profile.
    """

    def __init__(self, profiles: Iterable[Profile], *, model: str, threshold: float = MATCH_THRESHOLD) -> None:
        if not -1 < threshold < 1:
            raise ValueError(f"ProfileMatcher expected a threshold in (-1, 1), got {threshold!r}")
        every = list(profiles)
        self.model = model
        self.threshold = threshold
        self.profiles = [p for p in every if p.model == model]
        self.other_models = [p for p in every if p.model != model]

    def scores(self, embedding: Vector) -> list[tuple[Profile, float]]:
        """Every profile with its cosine similarity to ``embedding`` (shape (dimension,)), best first."""
        if not self.profiles:
            return []
        emb = unit(np.asarray(embedding, dtype=np.float64))
        if emb.shape != self.profiles[0].embedding.shape:
            raise ValueError(f"expected a {self.profiles[0].embedding.shape[0]}-d embedding of {self.model}, "
                             f"got shape {emb.shape}")
        sims = np.stack([p.embedding for p in self.profiles]).astype(np.float64) @ emb
        return sorted(zip(self.profiles, (float(s) for s in sims), strict=True), key=lambda ps: -ps[1])

    def best(self, embedding: Vector, *, exclude: Iterable[str] = ()) -> tuple[Profile, float] | None:
        """The closest profile at or above the threshold, skipping names in ``exclude`` (folded case)."""
        skip = {n.casefold() for n in exclude}
        for profile, sim in self.scores(embedding):
            if profile.name.casefold() in skip:
                continue
            return (profile, sim) if sim >= self.threshold else None
        return None

    def named(self, name: str) -> Profile | None:
        """This model's profile of ``name`` (any case), if any."""
        return next((p for p in self.profiles if p.name.casefold() == name.casefold()), None)


class KnownVoices:
    """Enrolled people in a live meeting: seeds the engine's voices with them (``VoiceMemory``),
    names voices that match one.

    ``seed`` makes each profile on the roster a known voice before anyone speaks (their windows are
    assigned at once, with no new-voice wait). ``update`` runs after every chunk in the pipeline's
    thread: a seeded voice takes its name when it first speaks; an unnamed voice that has spoken
    ``MATCH_MIN_WINDOWS`` windows is compared with every profile and named (or merged into the
    seeded voice of that person) when it matches. ``from_profile`` maps voice ids to the names
    they got from a profile, for the dashboard. ``add_profile`` adds a profile made during the
    meeting; one kept without consent is used in this meeting only (the next ``seed`` drops it).
    """

    def __init__(self, matcher: ProfileMatcher, *, roster: Iterable[str] = ()) -> None:
        self.matcher = matcher
        self.roster = [n for n in roster]
        self.from_profile: dict[int, str] = {}
        self._seeded: dict[int, Profile] = {}
        self._checked: dict[int, int] = {}  # voice id -> window count when last compared
        self._talked: set[int] = set()  # voices that have had speech counted
        self._meeting_only: set[str] = set()  # ids of profiles to forget when the meeting ends

    def seed(self, memory: VoiceMemory | None, accountant: Accountant) -> None:
        """Make the roster's enrolled people known voices of the engine's ``memory`` (call after every
        reset, so a new meeting); without one, only the roster's names are expected."""
        if self._meeting_only:
            self.matcher.profiles = [p for p in self.matcher.profiles if p.id not in self._meeting_only]
            self._meeting_only = set()
        self._seeded = {}
        self._checked = {}
        self._talked = set()
        self.from_profile = {}
        for k, name in enumerate(self.roster):
            accountant.expect(name)
            profile = self.matcher.named(name)
            if profile is None or memory is None:
                continue
            sid = PROFILE_SPEAKER_BASE + k
            # a single window claims the voice before it is heard only at the calibrated profile match
            memory.seed(sid, profile.embedding, weight=min(profile.windows, SEED_WEIGHT_WINDOWS),
                        claim_threshold=self.matcher.threshold)
            self._seeded[sid] = profile

    def add(self, speaker: int, name: str) -> None:
        """Voice ``speaker`` was named ``name`` from a profile made or matched during the meeting."""
        self.from_profile[speaker] = name

    def add_profile(self, profile: Profile, *, this_meeting_only: bool) -> None:
        """Recognise ``profile`` (made during the meeting) from now on; with ``this_meeting_only``
        (no consent to keep it) only until the meeting ends."""
        self.matcher.profiles.append(profile)
        if this_meeting_only:
            self._meeting_only.add(profile.id)

    def update(self, memory: VoiceMemory | None, accountant: Accountant,
               segments: Iterable[SpeakerSegment]) -> list[tuple[int, int]]:
        """Name voices from profiles, given the segments just counted; returns the merges (keep, gone)
        the pipeline should make."""
        self._talked.update(s.speaker for s in segments)
        talked = self._talked
        for sid, profile in self._seeded.items():
            if sid in talked and sid not in accountant.names and profile.name not in accountant.names.values():
                accountant.rename(sid, profile.name)
                self.from_profile[sid] = profile.name
        merges: list[tuple[int, int]] = []
        taken = set(accountant.names.values())
        voices = memory.centroids() if memory is not None else {}
        for sid, (centroid, count) in voices.items():
            if sid in self._seeded or sid in accountant.names or sid not in talked:
                continue
            if count < MATCH_MIN_WINDOWS or self._checked.get(sid, 0) * 2 > count:
                continue  # compared again each time the voice has doubled
            self._checked[sid] = count
            found = self.matcher.best(centroid)
            if found is None:
                continue
            profile = found[0]
            seeded = next((s for s, p in self._seeded.items() if p.id == profile.id), None)
            if seeded is not None:
                merges.append((seeded, sid))
                accountant.rename(seeded, profile.name)
                self.from_profile[seeded] = profile.name
            elif profile.name not in taken:
                accountant.rename(sid, profile.name)
                self.from_profile[sid] = profile.name
                taken.add(profile.name)
        return merges
