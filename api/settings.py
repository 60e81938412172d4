"""The dashboard's settings: one ``Settings`` read from flags, ``TALKTIME_*`` variables and defaults.

Every field is also a ``talktime run`` flag (``--field-name``), generated here, so a default exists
in exactly one place. Precedence: flag, then environment variable, then default.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
from collections.abc import Collection, Iterable
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.limits import Limits
from tracker.meeting.view import ViewConfig
from tracker.store.records import clean_title
from tracker.store.storage import default_data_dir

ENV_PREFIX = "TALKTIME_"
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied off a screen
_ORIGIN = re.compile(r"^https?://[^/\s]+$")


def new_viewer_code() -> str:
    """A meeting code people can type: 3 groups of 4 (about 59 bits)."""
    return "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(3))


class Settings(BaseSettings):
    """Settings of ``talktime run`` (flags and ``TALKTIME_<NAME>`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    host: str = Field(default="0.0.0.0", description="address to serve on (0.0.0.0: reachable from the room's network)")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port of the dashboard")
    device: str | None = Field(default=None, description="input device index or name (default: the system default)")
    input: Path | None = Field(default=None, description="replay this recording in real time instead of a microphone")
    call_device: str | None = Field(
        default=None,
        description="hybrid meeting: the call's audio, a PulseAudio/PipeWire source such as the monitor of the speakers "
                    "('default': the default output's monitor; see `talktime devices`); alone: a fully remote meeting",
    )
    call_input: Path | None = Field(
        default=None, description="replay a recording of the call's audio beside --input (alone: a fully remote meeting)"
    )
    code: str | None = Field(
        default=None, min_length=6, description="viewers' meeting code (default: a new random one, printed at start)"
    )
    token: str | None = Field(
        default=None, min_length=6, description="facilitator's token, for control and API clients (default: random, printed)"
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="other browser origins allowed besides the page's own (comma-separated)"
    )
    autostart: bool = Field(default=True, description="count from the start; off: wait for Start on the page")
    start_on_speech: bool = Field(
        default=False, description="meetings wait and start when someone speaks after a quiet period (instead of autostart)"
    )
    quiet_before_start_s: float = Field(
        default=60.0, ge=0, json_schema_extra={"metavar": "SECONDS"},
        description="with --start-on-speech: seconds without talk before talk starts the next meeting",
    )
    auto_end_after: float = Field(
        default=20.0, ge=0, json_schema_extra={"metavar": "MINUTES"},
        description="minutes without speech after which a running meeting ends by itself (0: never)",
    )
    resume_within: float = Field(
        default=10.0, ge=0, json_schema_extra={"metavar": "MINUTES"},
        description="after a crash, a restart within this many minutes (same day) continues the interrupted meeting; "
                    "later, a new meeting starts (0: always a new one)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", json_schema_extra={"metavar": "LEVEL"},
        description="what `talktime run` logs to standard error: debug, info, warning or error",
    )
    engine: Literal["neural", "lite"] = Field(
        default="neural", json_schema_extra={"metavar": "NAME"},
        description="who-is-speaking engine: neural (segmentation + CAM++ voices, overlap seen; default) or lite "
        "(VAD + Resemblyzer: about a third of the CPU, less accurate)",
    )
    vad: str = Field(default="silero", description="the lite engine's voice activity detector: silero or webrtc0..webrtc3")
    retry_s: float = Field(default=2.0, gt=0, description="seconds between attempts to open a missing microphone")
    push_interval_s: float = Field(
        default=0.4, gt=0, le=0.5, description="seconds between pushes to viewers when nothing else changed"
    )
    outbox_size: int = Field(default=4, ge=1, le=64, description="messages queued per viewer before the oldest is dropped")
    max_viewers: int = Field(default=200, ge=1, description="websocket viewers at once; more are turned away")
    max_message_bytes: int = Field(default=16_384, ge=256, description="largest request body or websocket message accepted")
    send_timeout_s: float = Field(default=10.0, gt=0, description="seconds a viewer may take to accept one message")
    requests_per_s: float = Field(
        default=10.0, gt=0, description="requests per second one client address may make, on average (more: 429)"
    )
    request_burst: int = Field(default=100, ge=10, description="requests one client address may make at once before the rate applies")
    auth_failures: int = Field(
        default=10, ge=1, description="wrong codes one client address may try at once; then it must wait (429)"
    )
    auth_failure_window_s: float = Field(
        default=60.0, gt=0, description="seconds in which all auth_failures are forgiven again, one at a time"
    )
    ws_messages_per_s: float = Field(
        default=5.0, gt=0, description="websocket messages per second a viewer may send, on average (more: closed, 1008)"
    )
    ws_message_burst: int = Field(default=20, ge=1, description="websocket messages a viewer may send at once")
    warmup_s: float = Field(default=ViewConfig.warmup_s, ge=0, description="seconds before anyone is flagged quiet or dominant")
    quiet_after_s: float = Field(
        default=ViewConfig.quiet_after_s, ge=0, description="seconds of silence after which a person is flagged quiet"
    )
    max_people: int = Field(default=ViewConfig.max_people, ge=2, description="more people than this shows a warning")
    data_dir: Path | None = Field(
        default=None, description="folder of the meeting store (default: the user's data folder, ~/.local/share/talktime)"
    )
    save: bool = Field(default=True, description="keep who spoke when, names and phases in the store (never audio or words)")
    title: str | None = Field(
        default=None, min_length=1, max_length=120, description="the meeting's title; the same title makes a recurring meeting"
    )
    series: str | None = Field(
        default=None, min_length=1, max_length=120, description="recurring meeting this one belongs to (default: the title)"
    )
    room: str | None = Field(default=None, min_length=1, max_length=120, description="the room, for the meeting's record")
    roster: Path | None = Field(
        default=None, description="text file of expected attendees, one name per line; those with a voice profile are "
        "recognised from their first words (docs/profiles.md)"
    )
    retention_days: int | None = Field(
        default=None, ge=1, description="at start, delete stored meetings older than this many days (default: keep)"
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError(f"expected origins like http://host:port, got {origin!r}")
        return [o.rstrip("/") for o in value]

    @field_validator("title", "series", "room")
    @classmethod
    def _check_label(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else clean_title(value, what=str(info.field_name))

    @model_validator(mode="after")
    def _check_combination(self) -> Settings:
        if self.device is not None and self.input is not None:
            raise ValueError(f"expected --device or --input, not both; got {self.device!r} and {str(self.input)!r}")
        if self.call_device is not None and self.call_input is not None:
            raise ValueError("expected --call-device or --call-input, not both")
        if self.call_input is not None and self.device is not None:
            raise ValueError("expected --call-input beside a room recording (--input), not a microphone (--device)")
        if self.call_device is not None and self.input is not None:
            raise ValueError("expected --call-device beside a room microphone (--device), not a recording (--input)")
        if self.code is not None and self.code == self.token:
            raise ValueError("expected the viewers' code and the facilitator's token to differ")
        return self

    def with_secrets(self) -> Settings:
        """These settings with a random viewer code and facilitator token where none was given."""
        return self.model_copy(
            update={"code": self.code or new_viewer_code(), "token": self.token or secrets.token_urlsafe(18)}
        )

    def store_dir(self) -> Path:
        """The data folder of the meeting store (``data_dir``, else the platform's user data folder)."""
        return (self.data_dir or default_data_dir()).expanduser()

    def limits(self) -> Limits:
        """The per-address request and failed-authentication limits."""
        return Limits(self.requests_per_s, self.request_burst, self.auth_failures, self.auth_failure_window_s)

    def view_config(self) -> ViewConfig:
        return ViewConfig(warmup_s=self.warmup_s, quiet_after_s=self.quiet_after_s, max_people=self.max_people)


_METAVARS = {"call_input": "FILE", "call_device": "SOURCE", "input": "FILE", "roster": "FILE", "device": "D", "host": "H", "port": "P", "allowed_origins": "ORIGINS", "data_dir": "DIR",
             "retention_days": "DAYS"}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_cli_arguments(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """Add one flag per ``Settings`` field (or per field in ``names``); unset flags fall back to the
    environment, then the default."""
    for name, info in Settings.model_fields.items():
        if names is not None and name not in names:
            continue
        default = info.get_default(call_default_factory=True)
        shown = "none" if default in (None, []) else default
        help_text = f"{info.description} [env {ENV_PREFIX}{name.upper()}; default: {shown}]"
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text, "dest": name}
        if info.annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            kwargs["metavar"] = _METAVARS.get(name) or str(extra.get("metavar") or name.upper())
        parser.add_argument(flag(name), **kwargs)


class SettingsError(ValueError):
    """Flags or ``TALKTIME_*`` variables that make no valid ``Settings``; one line saying what was expected."""


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from parsed flags (only those given), the environment and defaults.

    Raises ``SettingsError`` (one line naming each bad flag or variable and what it expected)
    instead of pydantic's multi-line ``ValidationError``.
    """
    given = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(settings_problem(exc, given=given)) from None


def settings_problem(exc: ValidationError, *, given: Collection[str] = ()) -> str:
    """``exc`` (from ``Settings``) as one line: ``--port expected an integer from 1 to 65535, got 'abc'``.

    Each bad value is named as its flag when it was in ``given``, else as its ``TALKTIME_*``
    variable when that is set; several problems are joined with ``; ``.
    """
    return "; ".join(_problem(e, given) for e in exc.errors())


def _problem(error: Any, given: Collection[str]) -> str:
    loc = error.get("loc") or ()
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if not loc or loc[0] not in Settings.model_fields:  # a rule across settings: its own message
        return message
    name = str(loc[0])
    where = _where(name, given)
    if error.get("type") == "value_error":  # a validator's message already says what it expected
        return f"{where} {message.removeprefix(name + ' ')}" if message.startswith(
            (name + " expected", "expected")) else f"{where}: {message}"
    return f"{where} expected {expected(name)}, got {_shown(error.get('input'))}"


def _where(name: str, given: Collection[str]) -> str:
    variable = ENV_PREFIX + name.upper()
    if name not in given and any(k.upper() == variable for k in os.environ):
        return variable
    return flag(name)


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > 40:
        return f"{len(value)} characters"
    return repr(value)


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def expected(name: str) -> str:
    """What the setting ``name`` accepts, in words: ``an integer from 1 to 65535``."""
    info = Settings.model_fields[name]
    kind = info.annotation
    if get_origin(kind) in (Union, UnionType):  # X | None: what X accepts
        kind = next(a for a in get_args(kind) if a is not type(None))
    limits = {type(m).__name__: m for m in info.metadata}
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(kind))
    if kind is bool:
        return "true or false"
    if kind in (int, float):
        noun = "an integer" if kind is int else "a number"
        low = limits.get("Ge") or limits.get("Gt")
        high = limits.get("Le") or limits.get("Lt")
        if isinstance(low, Ge) and isinstance(high, Le):
            return f"{noun} from {_num(low.ge)} to {_num(high.le)}"
        parts = [f"of at least {_num(low.ge)}" if isinstance(low, Ge) else f"above {_num(low.gt)}" if isinstance(low, Gt)
                 else "", f"{'' if low else 'of '}at most {_num(high.le)}" if isinstance(high, Le) else f"below {_num(high.lt)}"
                 if isinstance(high, Lt) else ""]
        return " ".join([noun, " and ".join(p for p in parts if p)]).strip()
    if kind is str:
        short, long = limits.get("MinLen"), limits.get("MaxLen")
        if isinstance(short, MinLen) and isinstance(long, MaxLen):
            return f"text of {short.min_length} to {long.max_length} characters"
        if isinstance(short, MinLen):
            return f"text of at least {short.min_length} characters"
        return "text"
    if kind is Path:
        return "a file or folder path"
    return "a comma-separated list" if get_origin(kind) is list else "a valid value"


def settings_markdown() -> str:
    """The settings as a Markdown table (flag, variable, default, meaning) for the docs."""
    rows = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "none" if default in (None, []) else str(default)
        flag_text = f"`{flag(name)}` / `--no-{name.replace('_', '-')}`" if info.annotation is bool else f"`{flag(name)}`"
        rows.append(f"| {flag_text} | `{ENV_PREFIX}{name.upper()}` | `{shown}` | {info.description} |")
    return "\n".join(rows)
