"""Voice profiles: an enrolled person's average voice vector, and matching live voices against them.

A profile is the mean direction of the speaker embeddings of a few seconds of one person's speech
(never audio). It is tied to the embedding model that made it (``model_id``): a profile is only
ever compared with embeddings of the same model. Plain classes, no I/O: the store keeps profiles
(``tracker.store.storage``), the session and the CLI move them in and out.

Everything that depends on the embedding space (thresholds, how much evidence is enough) is per
model, in ``MODELS`` keyed by the model's name, measured with ``scripts/calibrate_profiles.py`` on
real speech (AMI meetings, LibriSpeech voices); docs/profiles.md gives the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tracker.pipeline.engine import EmbeddingRecord, VoiceMemory
from tracker.audio import seconds
from tracker.stages.accounting import Accountant
from tracker.segments import Profile, SpeakerSegment
from tracker.stages.diarization import WindowRecord, unit

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ModelSettings:
    """How profiles of one embedding model are made and matched (measured: docs/profiles.md).

    An "embedding" is what the engine compares: a 1.6 s window every 0.4 s for Resemblyzer (lite
    engine), the clean speech of one local speaker (0.6 to 4 s) about once a second for CAM++
    (neural engine).
    """

    match_threshold: float  # cosine similarity of a voice to a profile needed to name it from the profile
    claim_threshold: float  # one embedding needs this to claim a seeded voice not yet heard
    match_min_embeddings: int  # embeddings a new voice holds before it is compared with profiles
    seed_weight: int  # a seeded voice counts as at most this many embeddings
    enroll_min_embeddings: int  # embeddings an enrollment needs
    two_voices_similarity: float  # enrollment halves less alike than this are two people
    embedding_s: float  # seconds of new speech one embedding stands for (a guest's kept voice)


ENROLL_MIN_SPEECH_S = 3.0  # seconds of clear speech an enrollment needs
# Two voices: the enrollment's embeddings split into two groups, each with at least this share of
# them, whose mean voices are less similar than the model's ``two_voices_similarity``.
TWO_VOICES_MIN_SHARE = 0.2

RESEMBLYZER = ModelSettings(
    # AMI dev, 4 s voices (10 windows): own profile >= 0.854 (median 0.903, 11 trials), other people's
    # <= 0.816 (283 trials): 0.825 gave no false accept and no miss, on espeak-ng voices too.
    match_threshold=0.825, claim_threshold=0.825,
    match_min_embeddings=10,  # 10 x 0.4 s = 4 s of speech
    seed_weight=10,  # after a few seconds in the room, today's voice weighs as much as the profile
    enroll_min_embeddings=6, two_voices_similarity=0.75, embedding_s=0.4,
)
CAMPLUS = ModelSettings(
    # Measured with scripts/calibrate_profiles.py (docs/profiles.md). AMI dev, voices of 4 embeddings
    # (about 4 s) against profiles from other meetings: own person >= 0.500 (median 0.726, 15 trials),
    # other people <= 0.468 (382). Single embeddings: own median 0.677, others <= 0.495 (68 / 1862).
    # LibriSpeech halves (244 people, 0.8-8.6 s): own 5th percentile 0.656, others' 99.9th percentile
    # 0.462 (59292 trials), 5 of them (0.008 %) >= 0.55. 0.55 gave no false accept on AMI at 1, 2 or 4
    # embeddings (misses: 12 %, 6 %, 7 %); a miss only leaves a guest until the voice is compared again.
    match_threshold=0.55, claim_threshold=0.55,
    match_min_embeddings=3,  # about 3 s of speech
    seed_weight=4,  # today's voice outweighs the profile after a few seconds
    # one person's halves: 0.4 % (1 of 244) under 0.40; two people's: 0.4 % over it
    enroll_min_embeddings=3, two_voices_similarity=0.40, embedding_s=1.0,
)
MODELS: dict[str, ModelSettings] = {
    "resemblyzer-ge2e-0.1.4": RESEMBLYZER,
    "campplus": CAMPLUS,  # 3D-Speaker CAM++ campplus_cn_en_common.pt (SHA-256 checked at load), 192-d
}
# which model each engine's voices are (the first is the default engine's): a profile works with
# the engines of its model only
ENGINE_MODELS: dict[str, str] = {"neural": "campplus", "lite": "resemblyzer-ge2e-0.1.4"}
DEFAULT_SETTINGS = RESEMBLYZER  # a model measured by nobody (test encoders) is held to Resemblyzer's

# The Resemblyzer figures under their former names (tests and scripts of the lite engine use them).
MATCH_THRESHOLD = RESEMBLYZER.match_threshold
MATCH_MIN_WINDOWS = RESEMBLYZER.match_min_embeddings
ENROLL_MIN_WINDOWS = RESEMBLYZER.enroll_min_embeddings
TWO_VOICES_SIMILARITY = RESEMBLYZER.two_voices_similarity
SEED_WEIGHT_WINDOWS = RESEMBLYZER.seed_weight
PROFILE_SPEAKER_BASE = 1000  # voice ids of seeded profiles start here, so guests stay "Guest 1", "Guest 2", ...

# What a person whose profile was made by another model is told (the CLI, the log).
REENROL_COMMAND = "talktime profiles enroll {name} AUDIO --consent"


def model_name(model: str) -> str:
    """The model part of an identifier: ``campplus`` of ``campplus/192``, ``resemblyzer-ge2e-0.1.4`` of
    ``resemblyzer-ge2e-0.1.4/256``."""
    return model.split("/", 1)[0]


def settings(model: str) -> ModelSettings:
    """The measured settings of embedding model ``model`` (an id as ``model_id`` or an engine gives)."""
    return MODELS.get(model_name(model), DEFAULT_SETTINGS)


class _Encoder(Protocol):
    name: str


def model_id(encoder: _Encoder) -> str:
    """The stable identifier of an embedding model: its name (with version) and dimension.

    ``resemblyzer-ge2e-0.1.4/256``, ``campplus/192``. Encoders give their dimension as ``dimension``
    (``models.embedding``) or ``dim`` (``models.campplus``). Profiles of different model names are
    never compared.
    """
    dim = getattr(encoder, "dimension", None)
    if dim is None:
        dim = getattr(encoder, "dim", None)
    return encoder.name if dim is None else f"{encoder.name}/{dim}"


def same_model(a: str, b: str) -> bool:
    """Whether two model ids name the same embedding model (``campplus`` and ``campplus/192`` do)."""
    if "/" in a and "/" in b:
        return a == b
    return model_name(a) == model_name(b)


def reenrol_message(profiles: Sequence[Profile], model: str) -> str:
    """What to tell the facilitator about profiles made by another model than ``model``."""
    names = sorted({p.name for p in profiles}, key=str.casefold)
    made = sorted({p.model for p in profiles})
    return (f"{len(names)} voice profile{'s' if len(names) != 1 else ''} ({', '.join(names)}) "
            f"{'were' if len(names) != 1 else 'was'} made with {', '.join(made)}, not {model_name(model)} "
            "(this engine's voices), so they are not used; re-enrol each person with "
            f"`{REENROL_COMMAND.format(name='NAME')}` (or \"Enroll voice\" on the page)")


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


@runtime_checkable
class ForgetsSeeds(Protocol):
    """An engine whose seeded voices survive ``reset`` (the neural engine) and can be forgotten."""

    def forget_seeds(self) -> None: ...


def forget_seeds(engine: object) -> None:
    """Forget the seeded voices of ``engine`` where they outlive a reset: ``KnownVoices.seed`` seeds
    the profiles in use again after every reset, and a profile no longer in use (deleted, or
    recognition turned off) must not stay a known voice. A hybrid engine passes it to its engines."""
    if isinstance(engine, ForgetsSeeds):
        engine.forget_seeds()


Record = WindowRecord | EmbeddingRecord


def _span(r: Record) -> tuple[int, int]:
    return (r.span_start, r.span_end) if isinstance(r, WindowRecord) else (r.start, r.end)


def _speech_samples(recs: Sequence[Record]) -> int:
    """Speech the records describe, each sample once: windows label disjoint spans; embeddings
    (spans of up to 4 s that overlap) count their speech in proportion to the part of their span
    no earlier one covered."""
    total, covered = 0, -(10**18)
    for r in sorted(recs, key=lambda r: _span(r)[1]):
        if isinstance(r, WindowRecord):
            total += r.speech_samples
            continue
        lo, hi = r.start, r.end
        if hi > lo:
            total += int(r.speech * max(0, hi - max(lo, covered)) / (hi - lo))
        covered = max(covered, hi)
    return total


def _strong(r: Record) -> bool:
    return r.embedding is not None and (r.strong if isinstance(r, WindowRecord) else r.speech > 0)


def enrollment_voice(records: Iterable[Record], *, model: str = "") -> EnrollmentVoice:
    """The mean voice of enrollment speech, from the engine's embeddings over it: the lite engine's
    windows (``WindowRecord``) or any engine's ``EmbeddingRecord`` (``VoiceMemory.records()``),
    judged with the settings of ``model`` (Resemblyzer's when not given).

    Raises ``EnrollmentError`` (asking for a retake) when there is no speech, too little, or the
    embeddings hold two voices rather than one.
    """
    cfg = settings(model)
    recs = list(records)
    speech_s = seconds(_speech_samples(recs))
    strong = [r for r in recs if _strong(r)]
    if speech_s < 0.2 and not strong:
        raise EnrollmentError("no speech was heard; expected a few seconds of one person speaking close to the "
                              "microphone. Please retake: say your name and what you work on.")
    if len(strong) < cfg.enroll_min_embeddings or speech_s < ENROLL_MIN_SPEECH_S:
        raise EnrollmentError(f"the speech was too short ({speech_s:.1f} s heard); expected at least "
                              f"{ENROLL_MIN_SPEECH_S:.0f} s of one person speaking. Please retake and keep talking "
                              "a little longer: say your name and what you work on.")
    embs = unit(np.stack([r.embedding for r in strong]).astype(np.float64))  # type: ignore[misc]
    mask, sim = two_groups(embs)
    smaller = min(int(mask.sum()), int((~mask).sum())) / len(embs)
    if smaller >= TWO_VOICES_MIN_SHARE and sim < cfg.two_voices_similarity:
        raise EnrollmentError(f"two voices were heard (their voices differ: similarity {sim:.2f}); expected one "
                              "person. Please retake with only the person enrolling speaking.")
    return EnrollmentVoice(unit(embs.sum(axis=0)).astype(np.float32), len(strong), speech_s)


def windows_between(records: Sequence[Record], start_sample: int, end_sample: int | None = None) -> list[Record]:
    """The windows or embeddings whose span lies in [start_sample, end_sample) (stream samples)."""
    return [r for r in records if _span(r)[0] >= start_sample and (end_sample is None or _span(r)[1] <= end_sample)]


class ProfileMatcher:
    """Finds the profile a voice belongs to, among profiles of one embedding model.

    Parameters
    ----------
    profiles : any profiles; those of other models are set aside in ``other_models`` and never compared.
    model : the model identifier of the embeddings to match (an engine's ``embedding_model``).
    threshold : cosine similarity a voice needs to a profile (default: the model's measured one).
    """

    def __init__(self, profiles: Iterable[Profile], *, model: str, threshold: float | None = None) -> None:
        self.settings = settings(model)
        given = threshold
        threshold = self.settings.match_threshold if threshold is None else threshold
        if not -1 < threshold < 1:
            raise ValueError(f"ProfileMatcher expected a threshold in (-1, 1), got {threshold!r}")
        every = list(profiles)
        self.model = model
        self.threshold = threshold
        # one embedding claiming a seeded voice not yet heard: the model's calibrated claim (or the threshold given)
        self.claim_threshold = self.settings.claim_threshold if given is None else threshold
        self.profiles = [p for p in every if same_model(p.model, model)]
        # NB: never compared (another embedding space); the person must enrol again with this model
        self.other_models = [p for p in every if not same_model(p.model, model)]

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

    def needs_reenrolment(self, name: str) -> Profile | None:
        """``name``'s profile of another model, when this model has none: they must enrol again."""
        if self.named(name) is not None:
            return None
        return next((p for p in self.other_models if p.name.casefold() == name.casefold()), None)


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
            # a single embedding claims the voice before it is heard only at the model's calibrated claim
            cfg = self.matcher.settings
            memory.seed(sid, profile.embedding, weight=max(1, min(profile.windows, cfg.seed_weight)),
                        claim_threshold=self.matcher.claim_threshold)
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
            if count < self.matcher.settings.match_min_embeddings or self._checked.get(sid, 0) * 2 > count:
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
