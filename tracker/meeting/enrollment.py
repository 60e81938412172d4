"""Enrollment and recognition at the edges: a recording or the room microphone in, a profile out;
the store's profiles and a roster file in, known voices for a live meeting out.

Everything goes through the pipeline the microphone uses and keeps only the engine's embeddings
(the lite engine's windows, the neural engine's CAM++ embeddings), never audio. The matching itself is ``tracker.pipeline.profiles`` (no I/O).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from tracker.audio import AudioChunk, to_samples

from tracker.pipeline.engine import StreamingEngine
from tracker.pipeline.hybrid import HybridEngine
from tracker.pipeline.profiles import (
    REENROL_COMMAND,
    EnrollmentError,
    EnrollmentVoice,
    KnownVoices,
    ProfileMatcher,
    Record,
    enrollment_voice,
    reenrol_message,
    settings,
    windows_between,
)
from tracker.pipeline.lite import WindowMemory
from tracker.stages.diarization import WindowRecord
from tracker.pipeline.pipeline import Pipeline
from tracker.pipeline.runner import Runner
from tracker.segments import Profile
from tracker.meeting.session import ConflictError, MeetingSession, UnknownSpeakerError, clean_name
from tracker.sources.files import FileSource
from tracker.sources.base import EndOfStream, Source
from tracker.store.storage import STORE_FILE, MeetingStore, StoreError

log = logging.getLogger("talktime")
LABEL_DELAY_S = 3.0  # seconds after the speech ends until its windows carry their voice (window + new-voice wait)
EVERY_LABEL_DELAY_S = 5.5  # the same for the neural engine: its decision latency (1.5 s) + a new voice's wait (4 s)
END_MARGIN_S = 2.0  # seconds of the recording read past --end, so the detector settles the last words
ENROLL_SECONDS = (4.0, 30.0)  # seconds the room is listened to for a live enrollment: allowed range


def read_roster(path: str | Path) -> list[str]:
    """Names from a text file, one per line (blank lines and ``#`` comments skipped, repeats once)."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the roster {p} ({exc}); expected a text file with one name per line") from exc
    names: list[str] = []
    for k, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            name = clean_name(text)
        except ValueError as exc:
            raise ValueError(f"{p} line {k}: {exc}") from exc
        if name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    if not names:
        raise ValueError(f"the roster {p} has no names; expected one name per line")
    return names


def known_voices(store: MeetingStore | None, pipeline: Pipeline, *, roster: list[str] | None = None) -> KnownVoices | None:
    """The store's profiles of the pipeline's model, with the roster's enrolled people to seed.

    None when there are neither profiles nor a roster. Profiles of other models are left out
    (logged). A store that cannot be read leaves recognition off, with a warning.
    """
    profiles: list[Profile] = []
    if store is not None:
        try:
            profiles = store.profiles()
        except StoreError as exc:
            log.warning("voice profiles are off: %s", exc)
    return _known_from(profiles, pipeline, roster=roster)


def _known_from(profiles: list[Profile], pipeline: Pipeline, *, roster: list[str] | None) -> KnownVoices | None:
    model = _model(pipeline)
    matcher = ProfileMatcher(profiles, model=model)
    standin = pipeline.stands_in_for
    if matcher.other_models and standin is not None:
        # NB: re-enrolling now would make profiles for the stand-in; the fix is the engine's install.
        names = ", ".join(sorted({p.name for p in matcher.other_models}, key=str.casefold))
        log.warning("voice profiles of %s are not used while the lite engine stands in for the %s engine, "
                    "which could not load its models; do not re-enrol them: fix the install as the error "
                    "above says and restart, and they are used again", names, standin)
    elif matcher.other_models:
        log.warning("%s", reenrol_message(matcher.other_models, model))
    for name in roster or []:
        if standin is None and matcher.needs_reenrolment(name) is not None:
            log.warning("%s is on the roster but their voice profile was made with another model, so talktime "
                        "will not know their voice before they speak; re-enrol them: `%s`", name,
                        REENROL_COMMAND.format(name=_quoted(name)))
    if not matcher.profiles and not roster:
        return None
    return KnownVoices(matcher, roster=roster or [])


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name


def _model(pipeline: Pipeline) -> str:
    """The model of the engine's voices; an engine that keeps none matches no profile."""
    return pipeline.embedding_model or "none"


@runtime_checkable
class EveryEmbedding(Protocol):
    """An engine that can keep every embedding it makes for a while (``NeuralEngine``): enrollment
    reads them from ``VoiceMemory.records()``."""

    keep_every_embedding: bool


def _every(engine: StreamingEngine) -> EveryEmbedding | None:
    """The engine (the room's, in a hybrid meeting) that keeps every embedding while asked, if any."""
    if isinstance(engine, HybridEngine):
        engine = engine.room_engine
    return engine if isinstance(engine, EveryEmbedding) else None


class _Listening:
    """Keeps the engine's embeddings while enrollment speech is heard: every CAM++ embedding of the
    neural engine (read back through ``VoiceMemory.records()``), or the lite engine's windows.
    ``EnrollmentError`` if the engine keeps neither."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.every = _every(pipeline.engine)
        self.label_delay_s = EVERY_LABEL_DELAY_S if self.every is not None else LABEL_DELAY_S
        if self.every is not None and pipeline.memory is not None:
            self.kept = self.every.keep_every_embedding
            self.every.keep_every_embedding = True
            return
        self.every = None
        engine = pipeline.engine
        if not isinstance(engine, WindowMemory):
            raise EnrollmentError(f"the {engine.name} engine keeps no voice embeddings; expected one that can enroll")
        self.windows = engine
        self.kept, self.first = engine.keep_windows, len(engine.windows)
        engine.keep_windows = True  # NB: a live meeting keeps no window records; these few, for now

    def stop(self, start: int, end: int | None) -> list[Record]:
        """Stop keeping; the embeddings whose span lies in [start, end)."""
        memory = self.pipeline.memory
        if self.every is not None and memory is not None:
            self.every.keep_every_embedding = self.kept
            return windows_between(list(memory.records()), start, end)
        engine = self.windows
        found = windows_between(engine.windows[self.first :], start, end)
        if not self.kept:
            del engine.windows[self.first :]
        engine.keep_windows = self.kept
        return found


def reload_profiles(session: MeetingSession, store: MeetingStore | None) -> None:
    """Before the room's next meeting opens: recognise the store's profiles as they are now
    (profiles deleted meanwhile are gone, ones kept or enrolled meanwhile are in), with the same
    roster. Without a store, or with a store that cannot be read (logged), the known voices stay."""
    pipeline = session.pipeline
    if store is None or not isinstance(pipeline, Pipeline):
        return
    try:
        profiles = store.profiles()
    except StoreError as exc:
        log.warning("voice profiles were not reloaded for the next meeting: %s", exc)
        return
    roster = pipeline.known.roster if pipeline.known is not None else None
    pipeline.use_profiles(_known_from(profiles, pipeline, roster=roster))


def enroll_from_file(path: str | Path, pipeline: Pipeline, *, start_s: float = 0.0, end_s: float | None = None) -> EnrollmentVoice:
    """The voice in ``path`` between ``start_s`` and ``end_s`` seconds, through the live path.

    Raises ``tracker.pipeline.profiles.EnrollmentError`` when that speech is silent, too short or two voices.
    """
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ValueError(f"enrollment expected 0 <= --start < --end seconds, got {start_s} and {end_s}")
    end = None if end_s is None else to_samples(end_s)
    source: Source = FileSource(path)
    if end is not None:
        source = _Until(source, end + to_samples(END_MARGIN_S))
    pipeline.use_profiles(None)
    listening = _Listening(pipeline)
    Runner(source, pipeline).run()
    return enrollment_voice(listening.stop(to_samples(start_s), end), model=_model(pipeline))


class _Until:
    """A source that ends at ``end`` samples (enrollment needs no more of the recording)."""

    def __init__(self, source: Source, end: int) -> None:
        self.source, self.end, self.stats = source, end, source.stats

    def start(self) -> None:
        self.source.start()

    def read(self, timeout: float) -> AudioChunk | None:
        chunk = self.source.read(timeout)
        if chunk is not None and chunk.start_sample >= self.end:
            raise EndOfStream
        return chunk

    def stop(self) -> None:
        self.source.stop()


def _known(session: MeetingSession) -> KnownVoices:
    pipeline = session.pipeline
    if pipeline.known is None:  # NB: set without use_profiles, which would reset the running meeting
        pipeline.known = KnownVoices(ProfileMatcher([], model=_model(pipeline)))
    return pipeline.known


def _keep(session: MeetingSession, store: MeetingStore | None, name: str, voice: EnrollmentVoice, consent: bool) -> Profile:
    profile = Profile(name, _model(session.pipeline), voice.embedding, windows=voice.windows,
                      speech_s=voice.speech_s, consent=consent)
    if consent and store is not None:
        store.save_profile(profile)
    return profile


def enroll_live(session: MeetingSession, attendee: int, *, seconds: float, consent: bool,
                store: MeetingStore | None, sleep: Callable[[float], None] = time.sleep) -> Profile:
    """Listen to the room for ``seconds`` and make roster entry ``attendee`` (id < 0) a known voice.

    The windows the pipeline embeds meanwhile give the profile (kept in ``store`` only with
    ``consent``); the voice they were given is named after the attendee. Blocks for about
    ``seconds + LABEL_DELAY_S``; raises ``EnrollmentError`` asking for a retake, and
    ``ConflictError`` while another enrollment of the meeting listens, or for ``consent`` without
    a ``store`` (--no-save).
    """
    lo, hi = ENROLL_SECONDS
    if not lo <= seconds <= hi:
        raise ValueError(f"enrollment expected {lo:.0f}-{hi:.0f} seconds of listening, got {seconds!r}")
    with session.figures() as acc:
        expected = acc.expected
        if attendee >= 0 or -1 - attendee >= len(expected):
            raise UnknownSpeakerError(f"no expected attendee with id {attendee} in meeting {session.id}")
        name = expected[-1 - attendee]
    if consent and store is None:
        raise ConflictError("this meeting keeps nothing (--no-save), so no voice profile can be kept; "
                            "expected consent: false to recognise them in this meeting only")
    if session.status != "running":
        raise ConflictError(f"cannot enroll {name}: the meeting is {session.status}; start it so talktime can listen")
    if not session.enrolling.acquire(blocking=False):
        raise ConflictError(f"cannot enroll {name}: another enrollment is in progress in this meeting; "
                            "expected one at a time (wait until it has finished)")
    try:
        return _enroll_live(session, name, seconds=seconds, consent=consent, store=store, sleep=sleep)
    finally:
        session.enrolling.release()


def _enroll_live(session: MeetingSession, name: str, *, seconds: float, consent: bool,
                 store: MeetingStore | None, sleep: Callable[[float], None]) -> Profile:
    """``enroll_live`` once its checks passed (hold ``session.enrolling``)."""
    with session.figures() as acc:
        start = acc.clock_samples  # the stream sample processed last
        listening = _Listening(session.pipeline)
    found: list[Record] = []
    try:
        sleep(seconds)
        sleep(listening.label_delay_s)
    finally:
        with session.held():
            found = listening.stop(start, start + to_samples(seconds))
    voice = enrollment_voice(found, model=_model(session.pipeline))
    labels = Counter(r.label for r in found if r.label is not None and (not isinstance(r, WindowRecord) or r.strong))
    if not labels:
        raise EnrollmentError(f"the speech was heard but not yet given a voice; please retake for {name}")
    speaker, _ = labels.most_common(1)[0]
    with session.figures() as acc:
        owner = acc.names.get(speaker)
    if owner is not None and owner != name:
        raise EnrollmentError(f"that voice is already {owner}'s on the dashboard; expected {name} alone speaking. "
                              "Please retake (or rename the voice first if it was named wrongly).")
    profile = _keep(session, store, name, voice, consent)
    session.rename(speaker, name)
    with session.held():
        _known(session).add(speaker, name)
        # NB: without consent it is this meeting's only: never stored, dropped when the next one starts
        _known(session).add_profile(profile, this_meeting_only=not consent)
    return profile


def save_voice_profile(session: MeetingSession, speaker: int, *, consent: bool, store: MeetingStore | None) -> Profile:
    """Keep the profile of named voice ``speaker`` (a guest named during the meeting): the mean of the
    windows the diarizer gave that voice."""
    if not consent:
        raise ValueError("a voice profile is kept only with the person's consent; expected consent: true")
    if store is None:
        raise ConflictError("this meeting keeps nothing (--no-save), so no voice profile can be kept")
    with session.figures() as acc:
        name = acc.names.get(speaker)
        memory = session.pipeline.memory
        found = memory.centroids().get(speaker) if memory is not None else None
        centroid, count = found if found is not None else (None, 0)
    if name is None:
        raise ConflictError(f"voice {speaker} has no name yet; expected a named voice (rename it first)")
    cfg = settings(_model(session.pipeline))
    if centroid is None or count < cfg.enroll_min_embeddings:
        raise EnrollmentError(f"{name} has spoken too little to make a voice profile ({count} embeddings); expected "
                              f"at least {cfg.enroll_min_embeddings}: try again after they have said a few sentences")
    engine = session.pipeline.engine
    step_s = engine.step_s if _every(engine) is None and isinstance(engine, WindowMemory) else cfg.embedding_s
    voice = EnrollmentVoice(centroid, count, count * step_s)  # the voice's own running mean
    profile = _keep(session, store, name, voice, consent)
    with session.held():
        _known(session).add(speaker, name)
    return profile


def use_profiles(session: MeetingSession, *, data_dir: Path | None, roster_file: Path | None = None) -> KnownVoices | None:
    """Before a live meeting opens: put the roster file's names on the roster and recognise the
    people of the store in ``data_dir`` who have a voice profile (seeding those on the roster)."""
    roster = read_roster(roster_file) if roster_file is not None else None
    path = data_dir / STORE_FILE if data_dir is not None else None
    if path is not None and path.is_file():
        try:
            with MeetingStore(path) as store:
                known = known_voices(store, session.pipeline, roster=roster)
        except StoreError as exc:
            log.warning("voice profiles are off: %s", exc)
            known = known_voices(None, session.pipeline, roster=roster)
    else:
        known = known_voices(None, session.pipeline, roster=roster)
    session.pipeline.use_profiles(known)
    return known
