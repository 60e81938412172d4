"""``talktime service``: run ``talktime run`` at boot under systemd, as the room's always-on service.

    talktime service print [--system] [RUN FLAGS...]     # the unit file, on standard output
    talktime service install [--system] [--unit-dir DIR] [RUN FLAGS...]

The default is a *user* service (``~/.config/systemd/user/talktime.service``): the microphone of a
desktop machine belongs to the logged-in user's sound server (PipeWire or PulseAudio), which a
system service cannot reach. ``loginctl enable-linger USER`` starts the user's services at boot
without anyone logging in. ``--system`` writes ``/etc/systemd/system/talktime.service`` for a
machine without a desktop, capturing straight from ALSA as the installing user (member of
``audio``), with stricter sandboxing. Both restart the tracker whatever made it stop.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from tracker.storage import default_data_dir

UNIT_NAME = "talktime.service"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_DATA_DIR = Path("/var/lib/talktime")  # systemd's StateDirectory=talktime
UNIT_DIR_ENV = "TALKTIME_UNIT_DIR"  # where `install` writes the unit instead (tests, packaging)
RESTART_S = 5  # seconds systemd waits before restarting a stopped tracker
STOP_TIMEOUT_S = 20  # seconds to end the meeting and write its last seconds on stop
_PLAIN = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


class ServiceError(Exception):
    """The unit cannot be made or written; the message says what was expected."""


def talktime_executable() -> Path:
    """The ``talktime`` console script of the running Python environment (an absolute path)."""
    here = Path(sys.executable).parent / "talktime"
    if here.is_file():
        return here.absolute()
    found = shutil.which("talktime")
    if found is None:
        raise ServiceError(f"no talktime command next to {sys.executable} or on PATH; expected the package installed "
                           "in this environment (pip install -e .)")
    return Path(found).absolute()


def _quote(arg: str) -> str:
    """One ExecStart word: systemd expands % specifiers and $ variables, and splits on spaces."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if _PLAIN.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _has_flag(run_args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in run_args)


def unit_text(run_args: list[str], *, system: bool = False, executable: Path | None = None, user: str | None = None) -> str:
    """The systemd unit that runs ``talktime run RUN_ARGS`` at boot and restarts it whenever it stops.

    Parameters
    ----------
    run_args : flags of ``talktime run`` (checked by the caller); ``--data-dir`` is added if absent.
    system : a system service (ALSA, as ``user``) instead of a user service (PipeWire/PulseAudio).
    executable : the talktime command (default: this environment's).
    user : the account a system service runs as (default: the current one).
    """
    exe = executable or talktime_executable()
    args = list(run_args)
    if not _has_flag(args, "--data-dir"):
        args += ["--data-dir", str(SYSTEM_DATA_DIR if system else default_data_dir().expanduser().absolute())]
    exec_start = " ".join(_quote(a) for a in [str(exe), "run", *args])
    lines = [
        "# talktime room service, written by `talktime service`. Edit the flags on ExecStart, then",
        f"# `systemctl {'' if system else '--user '}daemon-reload` and restart it. Codes can go in the environment file.",
        "[Unit]",
        "Description=talktime meeting talk-time tracker (room service)",
        "Documentation=man:systemd.service(5)",
    ]
    if system:
        lines += ["Wants=network-online.target", "After=network-online.target sound.target"]
    else:
        lines += ["After=pipewire.service pipewire-pulse.service pulseaudio.service wireplumber.service"]
    lines += [
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={exec_start}",
        "Restart=always",
        f"RestartSec={RESTART_S}",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        "Environment=PYTHONUNBUFFERED=1",
        f"EnvironmentFile=-{'/etc/talktime/service.env' if system else '%h/.config/talktime/service.env'}",
        "NoNewPrivileges=yes",
        "LockPersonality=yes",
        "RestrictSUIDSGID=yes",
        "RestrictNamespaces=yes",
        "SystemCallArchitectures=native",
        "UMask=0077",
    ]
    if system:
        lines += [
            f"User={user or getpass.getuser()}",
            "SupplementaryGroups=audio",
            "StateDirectory=talktime",
            "StateDirectoryMode=0700",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            "PrivateTmp=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
            "DevicePolicy=closed",
            "DeviceAllow=char-alsa rw",
        ]
    lines += ["", "[Install]", f"WantedBy={'multi-user.target' if system else 'default.target'}", ""]
    return "\n".join(lines)


def unit_dir(*, system: bool, override: str | None = None) -> Path:
    """Where ``install`` writes the unit: ``override``, else ``$TALKTIME_UNIT_DIR``, else systemd's folder."""
    chosen = override or os.environ.get(UNIT_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    if system:
        return SYSTEM_UNIT_DIR
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def enable_commands(*, system: bool) -> list[str]:
    """The commands that start the installed service now and at every boot."""
    if system:
        return ["sudo systemctl daemon-reload", f"sudo systemctl enable --now {UNIT_NAME}",
                f"journalctl -u {UNIT_NAME} -f    # its log"]
    return [
        "systemctl --user daemon-reload",
        f"systemctl --user enable --now {UNIT_NAME}",
        f"sudo loginctl enable-linger {getpass.getuser()}    # start at boot, before anyone logs in",
        f"journalctl --user -u {UNIT_NAME} -f    # its log",
    ]


class _RunFlags(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ServiceError(f"expected flags of `talktime run` after the action: {message}")


def _check_run_args(run_args: list[str]) -> None:
    """Parse the flags as ``talktime run`` would, so a typo fails now rather than at every boot."""
    from api.settings import SettingsError, add_cli_arguments, settings_from_args

    parser = _RunFlags(prog="talktime run", add_help=False)
    add_cli_arguments(parser)
    try:
        settings_from_args(parser.parse_args(run_args))
    except SettingsError as exc:
        raise ServiceError(f"the run flags are not valid: {exc}") from None


def verify_unit(path: Path) -> str | None:
    """``systemd-analyze verify`` of a written unit when systemd is installed: its complaints, or None."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return None
    proc = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60)
    return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()


def _own_flags(args: argparse.Namespace) -> list[str]:
    """The run flags, after taking out ``--system`` and ``--unit-dir`` given after the action."""
    rest: list[str] = []
    words = iter(args.run_args)
    for word in words:
        if word == "--system":
            args.system = True
        elif word == "--unit-dir":
            args.unit_dir = next(words, None)
            if args.unit_dir is None:
                raise ServiceError("--unit-dir expected a folder")
        elif word.startswith("--unit-dir="):
            args.unit_dir = word.split("=", 1)[1]
        elif word != "--":
            rest.append(word)
    return rest


def cmd_service(args: argparse.Namespace) -> int:
    run_args = _own_flags(args)
    _check_run_args(run_args)
    text = unit_text(run_args, system=args.system)
    if args.action == "print":
        sys.stdout.write(text)
        return 0
    folder = unit_dir(system=args.system, override=args.unit_dir)
    path = folder / UNIT_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        hint = " (run it with sudo for --system)" if args.system else ""
        raise ServiceError(f"cannot write {path} ({exc.strerror}); expected a writable folder{hint}") from exc
    print(f"wrote {path}")
    print("start it now and at every boot with:")
    print("\n".join(f"  {c}" for c in enable_commands(system=args.system)))
    return 0


def add_service_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``talktime service print|install``."""
    s = sub.add_parser(
        "service", help="run the tracker at boot as a systemd service (print or install its unit)",
        description="Print or install a systemd unit that runs `talktime run` with the given flags at boot and "
                    "restarts it whenever it stops. Flags after the action are passed to `talktime run`.",
    )
    s.add_argument("action", choices=("print", "install"), help="print the unit, or write it and say how to enable it")
    s.add_argument("--system", action="store_true",
                   help="a system service (ALSA capture, /var/lib/talktime) instead of a user service "
                        "(PipeWire/PulseAudio, the default)")
    s.add_argument("--unit-dir", metavar="DIR",
                   help=f"install: write the unit here (default: ${UNIT_DIR_ENV}, else ~/.config/systemd/user "
                        "or /etc/systemd/system)")
    s.add_argument("run_args", nargs=argparse.REMAINDER, metavar="RUN FLAGS", help="flags of `talktime run`")
    s.set_defaults(func=cmd_service)
