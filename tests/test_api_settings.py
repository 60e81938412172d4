"""Settings, the `talktime run` flags generated from them, the command's early errors, and the docs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.events import EVENT_TYPES
from api.settings import Settings, flag, settings_from_args
from cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "dashboard.md"


def run_args(*argv: str) -> Settings:
    return settings_from_args(build_parser().parse_args(["run", *argv]))


def test_flags_then_environment_then_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().port == 8000 and Settings().host == "0.0.0.0"
    monkeypatch.setenv("TALKTIME_PORT", "9000")
    monkeypatch.setenv("TALKTIME_TOKEN", "from-the-environment")
    monkeypatch.setenv("TALKTIME_ALLOWED_ORIGINS", "http://a.local:1, http://b.local")
    s = run_args("--port", "9001", "--no-autostart")
    assert s.port == 9001 and s.token == "from-the-environment" and s.autostart is False
    assert s.allowed_origins == ["http://a.local:1", "http://b.local"]
    assert run_args().port == 9000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"device": "1", "input": Path("x.wav")}, "not both"),
        ({"code": "same-secret", "token": "same-secret"}, "differ"),
        ({"token": "abc"}, "at least 6"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"allowed_origins": ["evil.example"]}, "expected origins like"),
    ],
)
def test_bad_settings_say_what_was_expected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_generated_secrets_differ() -> None:
    a, b = Settings().with_secrets(), Settings().with_secrets()
    assert a.code and a.token and a.code != a.token and a.code != b.code
    assert len(a.code) == 14 and a.code.count("-") == 2
    kept = Settings(code="my-code-1").with_secrets()
    assert kept.code == "my-code-1" and kept.token


def test_every_setting_is_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    for name in Settings.model_fields:
        assert flag(name) in help_text, name


def test_run_fails_early_with_a_clear_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "--input", str(tmp_path / "missing.wav")]) == 1
    assert "AudioInputError: no such file" in capsys.readouterr().err
    assert main(["run", "--device", "1", "--input", "x.wav"]) == 2
    assert capsys.readouterr().err == "talktime: expected --device or --input, not both; got '1' and 'x.wav'\n"
    wav = tmp_path / "tone.wav"
    _write_tone(wav)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["run", "--input", str(wav), "--host", "127.0.0.1", "--port", str(port)]) == 1
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def _write_tone(path: Path) -> None:
    import numpy as np
    import soundfile as sf

    t = np.arange(16_000) / 16_000
    sf.write(str(path), (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000)


def test_docs_name_every_setting_flag_and_event() -> None:
    doc = DOC.read_text()
    for name in Settings.model_fields:
        assert f"`{flag(name)}`" in doc and f"TALKTIME_{name.upper()}" in doc, name
    for event in EVENT_TYPES:
        kind = event.__dataclass_fields__["type"].default
        assert f"| `{kind}` |" in doc, kind
    for kind in ("ping", "refresh"):
        assert f"| `{kind}` |" in doc
    gen = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_dashboard_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
