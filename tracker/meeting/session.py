"""One live meeting: capture, pipeline and the facilitator's controls behind a thread-safe snapshot.

``MeetingSession`` owns a ``Runner`` (its worker thread reads a ``LiveInput`` and feeds the
``Pipeline``) and the meeting's own state: id, status, agenda phases. Controls may be called from
any thread. Listeners registered with ``subscribe`` are told (in the calling thread, so they must
not block) whenever something changed; they then read ``snapshot()``.

Status: ``ready`` (capturing, not counting) -> ``running`` <-> ``paused`` -> ``ended``. While not
running, audio is read and dropped, so it never counts; ending stops capture for good and keeps
the final figures. A meeting that watches for talk (``onset``) starts by itself, at the talk's
onset. ``successor()`` makes the room's next meeting on the same input and models.

Status changes are logged (meeting id and reason, never names or words).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from tracker.audio import SAMPLE_RATE, seconds
from tracker.meeting.restart import Restart
from tracker.store.records import Gap, LiveVoice, MeetingRecord
from tracker.sources.live import LiveInput, file_opener, microphone_opener
from tracker.segments import Correction, Phase
from tracker.meeting.view import (
    DisplayView,
    PersonFigures,
    PhaseView,
    ShownFigures,
    ViewConfig,
    display_view,
    engine_text,
    equal_share,
    is_counting,
    people_view,
    phase_views,
    timeline_view,
)
from tracker.stages.onset import SpeechOnset
from tracker.pipeline.pipeline import Pipeline, PipelineConfig
from tracker.pipeline.build import build_pipeline
from tracker.pipeline.runner import Runner
from tracker.sources.files import FileSource
from tracker.stages.accounting import Accountant, GroupStats
from tracker.segments import SpeakerSegment

Status = Literal["ready", "running", "paused", "ended"]
EndReason = Literal["ended", "silence"]  # the facilitator (or shutdown) ended it; nobody spoke for too long
log = logging.getLogger("talktime")
MAX_NAME_CHARS = 60
STATE_SCHEMA = "talktime.state/4"  # 4: restart; 3: figures as shown (display, per-person text, kind, percents, provisional_s)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class SessionError(Exception):
    """A control that cannot be carried out; the message says why."""


class UnknownSpeakerError(SessionError, LookupError):
    """No voice or expected attendee has this id."""


class ConflictError(SessionError):
    """The control does not fit the meeting's current state (ended, name taken, ...)."""


@dataclass(frozen=True)
class InputView:
    """The audio input as the dashboard shows it."""

    status: str  # "ok", "starting", "no microphone: <reason>", "end of input"
    label: str  # "microphone" or "file <name>"
    device: str | None
    dropped_blocks: int
    overflows: int
    nonfinite_blocks: int  # blocks with NaN/inf samples from the device (replaced by silence)
    clipped_blocks: int  # blocks at full scale (clipped; still counted)
    offset_blocks: int  # blocks with a large DC offset (removed)
    paused_s: float  # audio read and dropped while not counting
    audio_s: float  # audio counted so far
    busy_s: float  # wall time the pipeline spent on it
    load: float  # busy_s / audio_s: below 1 the pipeline keeps up
    call: str | None = None  # hybrid meetings: "ok" or why the call's audio is missing; None without a call


@dataclass(frozen=True)
class MeetingSnapshot:
    """Everything the dashboard shows, as of one moment (seconds; shares in [0, 1])."""

    meeting_id: str
    status: Status
    started_at: str | None  # ISO 8601 UTC time the meeting first ran
    end_reason: EndReason | None  # once ended: "ended" (facilitator or shutdown) or "silence"
    waiting_for_speech: bool  # ready, and the meeting starts when someone speaks
    previous_meeting_id: str | None  # the room's meeting before this one (its report stays available)
    clock_s: float  # counted meeting time (pauses excluded)
    input: InputView
    speakers: list[PersonFigures]  # in the order the page lists them
    group: GroupStats
    equal_share: float | None
    too_many_people: bool
    max_people: int
    phases: list[PhaseView]
    timeline: list[tuple[int, float, float]]  # (speaker id, start_s, end_s)
    version: int  # increases with every change
    changed_at: float  # wall time (time.time()) of the last change, for latency measurements
    from_profile: list[int] = field(default_factory=list)  # voice ids whose name came from a voice profile
    display: DisplayView | None = None  # everything else as the page shows it (tracker/meeting/view.py)
    restart: Restart | None = None  # talktime restarted after a crash: what became of the meeting (None: it did not)
    schema: str = STATE_SCHEMA  # what the fields are; changes when they change (docs/dashboard.md)


@dataclass
class _State:
    status: Status = "ready"
    started_at: str | None = None
    end_reason: EndReason | None = None
    revised: bool = False  # the engine's post-meeting pass gave the figures (see MeetingSession._revise)
    background_samples: int = 0  # talk that pass credited to nobody as a conversation in the background
    phases: list[Phase] = field(default_factory=list)
    version: int = 0
    changed_at: float = 0.0
    listeners: list[Callable[[], None]] = field(default_factory=list)


def clean_name(name: str, *, what: str = "name") -> str:
    """A person's or phase's name with whitespace collapsed; raises ValueError when unusable."""
    text = " ".join(str(name).split())
    if not text or len(text) > MAX_NAME_CHARS or _CONTROL_CHARS.search(text):
        raise ValueError(f"{what} expected 1-{MAX_NAME_CHARS} printable characters, got {name!r}")
    return text


class MeetingSession:
    """A live meeting.

    Parameters
    ----------
    pipeline : the VAD -> diarization -> accounting pipeline (owned from now on).
    live_input : where audio comes from.
    view : when people are flagged quiet or dominant.
    autostart : count from the first chunk (True) or wait in ``ready`` for ``start()``.
    onset : watch the waiting room's audio and start at the first talk (``autostart`` is then ignored).
    previous_id : the meeting this one follows in the same room.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        live_input: LiveInput,
        *,
        view: ViewConfig | None = None,
        autostart: bool = True,
        onset: SpeechOnset | None = None,
        previous_id: str | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.pipeline = pipeline
        self.input = live_input
        self.view = view or ViewConfig()
        self._shown = ShownFigures()  # the rows' order and shown talk, kept from one snapshot to the next
        self.autostart = autostart and onset is None
        self.onset = onset
        self.previous_id = previous_id
        self.runner = Runner(live_input, pipeline, on_segments=self._on_segments, on_provisional=self._changed)
        pipeline.keep_live_history()  # the report comes from the stored segments, revised at the end
        live_input.on_status = self._changed
        live_input.on_onset = self._on_onset
        # NB: lock order is runner.lock (the pipeline) before _lock (status, phases, listeners).
        self._lock = threading.Lock()
        self._state = _State()
        self._opened = False
        self._final: MeetingSnapshot | None = None  # once a successor has the pipeline: the last figures
        self.gaps: list[Gap] = []  # restarts this meeting was continued over (tracker.meeting.restart)
        self.restart: Restart | None = None  # set by the room when this process restarted after a crash
        self._continuing = False  # continue_from made this a stored meeting that goes on: it runs at once
        self._revise_from = 0  # the post-meeting pass revises the figures from this sample on (continue_from)
        self.enrolling = threading.Lock()  # held by the one live enrollment at a time (tracker.meeting.enrollment)
        self.corrections: list[Correction] = []  # names and merges made by hand, in order (under runner.lock); kept for the report

    # -- lifecycle

    def open(self) -> None:
        """Start capturing (in the runner's thread); counting starts now if ``autostart``."""
        if self._opened:
            raise ConflictError("the meeting's capture is already open")
        self._opened = True
        counting = self.autostart or self._continuing
        self.input.counting = counting
        self.input.onset = None if self._continuing else self.onset
        if counting:
            self._set_status("running", reason="continued after a restart" if self._continuing else "autostart")
        elif self.onset is not None:
            log.info("meeting %s ready: it starts when someone speaks", self.id)
        self.runner.start()

    def continue_from(self, record: MeetingRecord, voices: list[LiveVoice]) -> int:
        """Before ``open``: become the stored meeting ``record`` (interrupted, now continued; see
        ``tracker.meeting.restart``): its id, clock, segments, names, roster, phases and gaps.
        New audio is counted from its clock on; the meeting runs at once. ``voices`` (already
        checked to be of this engine's model) seed the engine so each person keeps their id;
        returns how many did (a voice the engine already knows, an enrolled person, is left as is)."""
        if self._opened:
            raise ConflictError(f"meeting {self.id} is already open; expected to continue a meeting before opening it")
        clock = record.info.clock_samples
        with self.runner.held() as pipeline:
            acc = pipeline.accountant
            acc.begin(0)  # NB: a stored meeting's stream starts at sample 0
            acc.add(sorted(record.segments, key=lambda s: (s.start_sample, s.speaker)))
            acc.advance(clock)
            for speaker, name in record.names.items():
                acc.rename(speaker, name)
            acc.expected = list(record.expected)  # NB: the meeting's own roster, as the facilitator left it
            memory = pipeline.memory
            if memory is not None:
                known = set(memory.centroids())
                for v in voices:
                    if v.speaker in known:
                        continue
                    try:
                        memory.seed(v.speaker, v.centroid, weight=v.weight)
                    except ValueError as exc:  # NB: the engine refuses it (an id it holds already): not carried on
                        log.warning("voice %d of meeting %s could not be carried on: %s", v.speaker, record.info.id, exc)
                kept = len({v.speaker for v in voices} & set(memory.centroids()))
            else:
                kept = 0
        self.input.delivered_samples = clock  # NB: the stream goes on where the meeting's clock stopped
        self._revise_from = clock  # the engine saw nothing before: its post-meeting pass covers what follows
        self.id = record.info.id
        self.gaps = list(record.gaps)
        with self._lock:
            self._state.phases = list(record.phases)
            self._state.started_at = record.info.started_at
        self._continuing = True
        return kept

    def close(self) -> None:
        """End the meeting if it is still going (server shutdown)."""
        if self.status != "ended":
            self.end(why="shutdown")

    def successor(self, *, already_quiet: bool = False) -> MeetingSession:
        """The room's next meeting: same input, models and settings; a new id and empty figures.

        This meeting must have ended. Its pipeline is reset and handed over, so its own figures
        must have been kept (see ``tracker.meeting.room``) before this is called. ``already_quiet``: the
        room has been quiet long enough for talk to start the next meeting at once.
        """
        if self.status != "ended":
            raise ConflictError(f"meeting {self.id} is still {self.status}; expected it to have ended")
        self.runner.stop()
        self._final = self.snapshot()  # NB: the pipeline is about to be reset for the next meeting
        self.pipeline.reset()
        onset = None
        if self.onset is not None:
            onset = SpeechOnset(self.onset.vad, quiet_s=self.onset.quiet_samples / SAMPLE_RATE,
                                already_quiet=already_quiet)
        return MeetingSession(self.pipeline, self.input.renewed(), view=self.view, autostart=self.autostart,
                              onset=onset, previous_id=self.id)

    @property
    def status(self) -> Status:
        return self._state.status

    @property
    def background_samples(self) -> int:
        """Talk the post-meeting pass credited to nobody as a quieter conversation in the background
        (0 until it has run, and for an engine that never sets any aside)."""
        return self._state.background_samples

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every change; returns a function that unsubscribes."""
        with self._lock:
            self._state.listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._state.listeners:
                    self._state.listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        with self._lock:
            self._state.version += 1
            self._state.changed_at = time.time()
            listeners = list(self._state.listeners)
        for fn in listeners:
            fn()

    def _on_segments(self, segs: list[SpeakerSegment]) -> None:
        # Runs in the pipeline thread; an empty list means the input ended.
        self._changed()

    def _set_status(self, status: Status, *, reason: str, earlier_s: float = 0.0) -> None:
        with self._lock:
            before, self._state.status = self._state.status, status
            if status == "running" and self._state.started_at is None:
                began = datetime.now(UTC) - timedelta(seconds=earlier_s)
                self._state.started_at = began.isoformat(timespec="seconds")
        if before != status:
            what = {"running": "started" if before == "ready" else "resumed"}.get(status, status)
            log.info("meeting %s %s (%s)", self.id, what, reason)

    def _on_onset(self, buffered_samples: int) -> None:
        # Runs in the pipeline thread, from the input, when talk starts in a waiting room.
        self._set_status("running", reason="speech", earlier_s=buffered_samples / SAMPLE_RATE)
        self._changed()

    # -- controls: the meeting

    def start(self) -> None:
        """Count from now on (from ``ready`` or ``paused``)."""
        self._require_not_ended("start")
        self.input.onset = None
        self._set_status("running", reason="facilitator")
        self.input.counting = True
        self._changed()

    def pause(self) -> None:
        """Stop counting; audio is read and dropped until ``start()``."""
        self._require_not_ended("pause")
        if self.status == "running":
            self.input.counting = False
            self._set_status("paused", reason="facilitator")
        self._changed()

    def end(self, reason: EndReason = "ended", *, why: str = "facilitator") -> None:
        """Stop capture for good, decide what is pending and keep the final figures.

        ``reason`` is stored with the meeting; ``why`` only goes to the log. A meeting ended for
        ``"silence"`` stops its clock at the end of its last speech: the silence that ended it
        is not part of it.
        """
        if self.status == "ended":
            return
        self.input.onset = None
        self.runner.stop(drain=True)  # what the microphone already queued is part of the meeting
        self.input.counting = False
        self._revise()
        with self.runner.figures() as acc, self._lock:
            if reason == "silence":
                acc.clock_samples = min(acc.clock_samples, self._last_talk_sample(acc))
            clock = acc.clock_samples
            self._state.phases = [p if p.end_sample is not None else replace(p, end_sample=max(clock, p.start_sample))
                                  for p in self._state.phases]
            self._state.status, self._state.end_reason = "ended", reason
        log.info("meeting %s ended (%s) after %.0f s counted", self.id, why if reason == "ended" else reason,
                 seconds(clock))
        self._changed()

    def _revise(self) -> None:
        """Give the meeting the engine's post-meeting pass (``Pipeline.keep_live_history``): the
        whole meeting's embeddings regrouped, close voices merged, tiny phantoms folded. Voices the
        facilitator named are never made one. The figures, the page and the store all follow."""
        with self.runner.held() as pipe:
            if not pipe.revisable:
                return
            acc = pipe.accountant
            before = {s.speaker for s in acc.timeline}
            t0 = time.monotonic()
            try:
                segs = pipe.final_segments(protected=[sid for sid in acc.names if sid >= 0])
            except Exception:  # NB: the live figures stand; a failed revisit must not lose the meeting
                log.exception("meeting %s: the post-meeting pass failed; its live figures stand", self.id)
                return
            acc.revise(segs, since=self._revise_from)
            after = {s.speaker for s in acc.timeline}
            background = pipe.background_samples
            with self._lock:
                self._state.revised = True
                self._state.background_samples = background
        log.info("meeting %s: post-meeting pass in %.1f s, %d voices -> %d, %.1f s of background set aside",
                 self.id, time.monotonic() - t0, len(before), len(after), seconds(background))

    @staticmethod
    def _last_talk_sample(acc: Accountant) -> int:
        """End of the last speech counted, else where the meeting's stream began (figures held)."""
        return max((s.end_sample for s in acc.timeline), default=acc.origin or 0)

    def silence_s(self) -> float:
        """Seconds of the meeting's clock since the last speech was counted (or since it began)."""
        with self.runner.figures() as acc:
            return seconds(max(0, acc.clock_samples - self._last_talk_sample(acc)))

    def _require_not_ended(self, what: str) -> None:
        if self.status == "ended":
            raise ConflictError(f"cannot {what}: the meeting has ended (start a new meeting)")

    # -- controls: people

    @staticmethod
    def _voices(acc: Accountant) -> set[int]:
        """Every voice the dashboard can show: attributed talk, names, and speech still being
        attributed (a first voice is on screen before its first turn is decided for good)."""
        return {s.speaker for s in acc.timeline} | {s.speaker for s in acc.provisional} | set(acc.names)

    def _check_voice(self, acc: Accountant, speaker: int) -> None:
        if speaker not in self._voices(acc):
            raise UnknownSpeakerError(f"no speaker with id {speaker} in meeting {self.id}")

    def rename(self, speaker: int, name: str) -> None:
        """Name a voice (ids >= 0) or correct an expected attendee's name (ids < 0)."""
        name = clean_name(name)
        with self.runner.figures() as acc:
            if speaker < 0:
                k = -1 - speaker
                if k >= len(acc.expected):
                    raise UnknownSpeakerError(f"no expected attendee with id {speaker} in meeting {self.id}")
                if name != acc.expected[k] and (name in acc.expected or name in acc.names.values()):
                    raise ConflictError(f"{name!r} is already on the roster")
                acc.expected[k] = name
                self.corrections.append(Correction("name", speaker, name))
            else:
                self._check_voice(acc, speaker)
                owner = next((i for i, n in acc.names.items() if n == name and i != speaker), None)
                if owner is not None:
                    raise ConflictError(f"{name!r} is already speaker {owner}'s name; merge the two voices instead")
                acc.rename(speaker, name)
                self.corrections.append(Correction("name", speaker, name))
        self._changed()

    def merge(self, keep: int, gone: int) -> None:
        """Credit everything voice ``gone`` said to voice ``keep`` (one person split in two)."""
        if keep == gone:
            raise ValueError(f"merge expected two different speakers, got {keep} twice")
        with self.runner.figures() as acc:
            self._check_voice(acc, keep)
            self._check_voice(acc, gone)
            names = acc.names
            self.corrections.append(Correction("merge", keep, names.get(gone), gone))
            if keep not in names and gone in names:
                names[keep] = names[gone]
            self.pipeline.merge(keep, gone)
        self._changed()

    def expect(self, name: str) -> None:
        """Add an expected attendee who counts, at zero, until a voice is given their name."""
        name = clean_name(name)
        with self.runner.figures() as acc:
            if name in acc.expected or name in acc.names.values():
                raise ConflictError(f"{name!r} is already on the roster")
            acc.expect(name)
        self._changed()

    def remove_attendee(self, attendee: int) -> None:
        """Take an expected attendee (id < 0) off the roster."""
        with self.runner.figures() as acc:
            k = -1 - attendee
            if attendee >= 0 or k >= len(acc.expected):
                raise UnknownSpeakerError(f"no expected attendee with id {attendee} in meeting {self.id}")
            del acc.expected[k]
        self._changed()

    # -- controls: agenda phases

    def mark_phase(self, name: str) -> None:
        """Start a new agenda phase now; the current one ends here."""
        name = clean_name(name, what="phase name")
        self._require_not_ended("mark a phase")
        with self.runner.figures() as acc, self._lock:
            now = acc.clock_samples
            self._close_phase(now)
            self._state.phases.append(Phase(name, now))
        self._changed()

    def end_phase(self) -> None:
        """End the current agenda phase without starting another."""
        with self.runner.figures() as acc, self._lock:
            self._close_phase(acc.clock_samples)
        self._changed()

    def _close_phase(self, now: int) -> None:
        phases = self._state.phases
        if phases and phases[-1].end_sample is None:
            phases[-1] = replace(phases[-1], end_sample=now)

    # -- output

    def _call_state(self) -> str | None:
        """The call's audio in a hybrid meeting: "ok", or why it is missing; None without a call."""
        from tracker.pipeline.hybrid import HybridEngine
        from tracker.sources.paired import PairedSource

        engine = self.pipeline.engine
        if not isinstance(engine, HybridEngine):
            return None
        if not engine.room:
            return "ok" if self.input.status == "ok" else self.input.status  # the input is the call itself
        source = self.input.source
        call_state = source.call_state if isinstance(source, PairedSource) else None
        return call_state or self.input.status

    def figures(self) -> AbstractContextManager[Accountant]:
        """The meeting's figures, held still while the block reads or changes them (any thread)."""
        return self.runner.figures()

    def held(self) -> AbstractContextManager[Pipeline]:
        """The meeting's pipeline between two chunks' figures, for a block that changes what it keeps."""
        return self.runner.held()

    def snapshot(self) -> MeetingSnapshot:
        """The current figures (the last ones once the next meeting has taken the pipeline)."""
        if self._final is not None:
            return self._final
        return self._snapshot()

    def _snapshot(self) -> MeetingSnapshot:
        """The current figures; safe from any thread. It costs O(speakers), however long the
        meeting (the accountant keeps running totals), so it is computed under the pipeline's lock."""
        with self.runner.figures() as acc:
            with self._lock:
                st = replace(self._state, phases=list(self._state.phases), listeners=[])
            summary = acc.summary()
            clock_samples = acc.clock_samples
            clock_s = seconds(clock_samples)
            from_profile = sorted(self.pipeline.known.from_profile) if self.pipeline.known is not None else []
            input_status = self.input.status if self.runner.error is None else "pipeline failed"
            people = people_view(summary, clock_s=clock_s, config=self.view, recent_s=acc.config.recent_s,
                                 counting=is_counting(st.status, input_status),
                                 final=st.status == "ended", from_profile=from_profile, shown=self._shown)
            present = [p.id for p in people if p.present]
            phases = phase_views(acc, st.phases, people=present, clock_samples=clock_samples)
            timeline = timeline_view(
                acc, gap_s=self.view.timeline_gap_s, clock_samples=clock_samples, blocks=self.view.timeline_blocks
            )
        audio_s = seconds(self.input.delivered_samples)
        return MeetingSnapshot(
            meeting_id=self.id,
            status=st.status,
            started_at=st.started_at,
            end_reason=st.end_reason,
            waiting_for_speech=st.status == "ready" and self.input.onset is not None,
            previous_meeting_id=self.previous_id,
            clock_s=clock_s,
            input=InputView(
                # NB: a pipeline that failed stops counting; say so where the microphone's state is shown.
                status=self.input.status
                if self.runner.error is None
                else f"pipeline failed: {type(self.runner.error).__name__}: {self.runner.error}",
                label=self.input.label,
                device=self.input.device_name,
                dropped_blocks=self.input.dropped_blocks,
                overflows=self.input.overflows,
                nonfinite_blocks=self.input.nonfinite_blocks,
                clipped_blocks=self.input.clipped_blocks,
                offset_blocks=self.input.offset_blocks,
                paused_s=seconds(self.input.paused_samples),
                audio_s=audio_s,
                busy_s=self.runner.processing_s,
                load=self.runner.processing_s / audio_s if audio_s > 0 else 0.0,
                call=self._call_state(),
            ),
            speakers=people,
            group=summary.group,
            equal_share=equal_share(summary.group),
            too_many_people=summary.group.people > self.view.max_people,
            max_people=self.view.max_people,
            phases=phases,
            timeline=timeline,
            version=st.version,
            changed_at=st.changed_at,
            from_profile=from_profile,
            display=display_view(people, summary.group, phases, clock_s=clock_s, status=st.status,
                                 input_status=input_status, meeting_id=self.id, previous_meeting_id=self.previous_id,
                                 config=self.view, paused_s=seconds(self.input.paused_samples), call=self._call_state(),
                                 recent_s=self.pipeline.accountant.config.recent_s,
                                 engine=engine_text(self.pipeline.engine.name, stands_in_for=self.pipeline.stands_in_for,
                                                    revised=st.revised, background_s=seconds(st.background_samples))),
            restart=self.restart,
        )


def build_session(
    *,
    device: str | None = None,
    input_path: str | Path | None = None,
    config: PipelineConfig | None = None,
    view: ViewConfig | None = None,
    retry_s: float = 2.0,
    autostart: bool = True,
    start_on_speech_after_s: float | None = None,
    call_device: str | None = None,
    call_input: str | Path | None = None,
) -> MeetingSession:
    """A meeting on the default (or named) microphone, or on a recording replayed in real time.

    With ``call_device`` (a PulseAudio source) or ``call_input`` (a recording of the call) it is
    a hybrid meeting, or a fully remote one without a room input (see ``tracker.sources.paired``).

    A bad recording fails here, before the models load; a missing microphone does not: the
    session keeps trying to open it every ``retry_s`` seconds. ``start_on_speech_after_s``: the
    meeting waits and starts when talk follows that many seconds of quiet (see ``SpeechOnset``).
    """
    pipeline: Pipeline | None = None
    if input_path is not None and device is not None:
        raise ValueError(f"expected a device or an input file, not both; got {device!r} and {str(input_path)!r}")
    if call_device is not None or call_input is not None:
        from tracker.pipeline.build import build_hybrid_pipeline
        from tracker.sources.paired import hybrid_input
        from tracker.stages.echo import EchoConfig

        echo = EchoConfig()  # NB: one for both: the pairing lines the call up as the gate expects
        live, has_room = hybrid_input(device=device, input_path=input_path, call_device=call_device,
                                      call_input=call_input, retry_s=retry_s, echo=echo)
        pipeline = build_hybrid_pipeline(config, echo=echo, room=has_room, fallback=True)
    elif input_path is not None:
        FileSource(input_path)  # fail fast on a bad file
        live = LiveInput(file_opener(input_path), retry=False, retry_s=retry_s, label=f"file {Path(input_path).name}")
    else:
        live = LiveInput(microphone_opener(device), retry_s=retry_s, label="microphone")
    config = config or PipelineConfig()
    onset = None
    if start_on_speech_after_s is not None:
        from tracker.pipeline.build import build_vad

        # NB: a detector of its own: the pipeline's keeps the meeting's state.
        onset = SpeechOnset(build_vad(config), quiet_s=start_on_speech_after_s, already_quiet=True)
    return MeetingSession(pipeline or build_pipeline(config, fallback=True), live, view=view, autostart=autostart, onset=onset)
