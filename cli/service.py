"""``talktime service``: run ``talktime run`` at boot under systemd, as the room's always-on service.

    talktime service print [--system] [RUN FLAGS...]     # the unit file, on standard output
    talktime service install [--system] [--unit-dir DIR] [RUN FLAGS...]

The default is a *user* service (``~/.config/systemd/user/talktime.service``): the microphone of a
desktop machine belongs to the logged-in user's sound server (PipeWire or PulseAudio), which a
system service cannot reach. ``loginctl enable-linger USER`` starts the user's services at boot
without anyone logging in. ``--system`` writes ``/etc/systemd/system/talktime.service`` for a
machine without a desktop, capturing straight from ALSA as ``--user NAME`` (default: the account
that ran ``sudo``, never root unless asked for by name; member of ``audio``), with stricter
sandboxing. Both restart the tracker whatever made it stop. ``TALKTIME_*`` variables set where the
unit is made are written into it as flags, because systemd does not pass on the shell's
environment; the code and token are not, neither as variables nor as flags (the unit is readable
by everyone, and ``ps`` shows a command line): they belong in the unit's environment file. A value
with a control character (a newline would start another directive) is refused.
"""

from __future__ import annotations

import argparse
import getpass
import os
import pwd
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from tracker.store.storage import default_data_dir

UNIT_NAME = "talktime.service"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_DATA_DIR = Path("/var/lib/talktime")  # systemd's StateDirectory=talktime
UNIT_DIR_ENV = "TALKTIME_UNIT_DIR"  # where `install` writes the unit instead (tests, packaging)
RESTART_S = 5  # seconds systemd waits before restarting a stopped tracker
STOP_TIMEOUT_S = 20  # seconds to end the meeting and write its last seconds on stop
_PLAIN = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
SECRETS = ("code", "token")  # settings never written into a unit: it is readable by every account
ENV_FILES = {False: "%h/.config/talktime/service.env", True: "/etc/talktime/service.env"}
# the folders systemd reads units from (systemd.unit(5)); a unit elsewhere must be linked in
SYSTEMD_DIRS = {
    True: ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
           "/lib/systemd/system"),
    False: ("/etc/systemd/user", "/run/systemd/user", "/usr/local/lib/systemd/user", "/usr/lib/systemd/user",
            "/lib/systemd/user"),
}


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _unit_value(value: str, where: str) -> str:
    """``value`` unchanged, or ``ServiceError`` when it holds a control character: in a unit file a
    newline ends the directive, and what follows would be read as another one."""
    if _CONTROL.search(value):
        raise ServiceError(f"{where} expected a value without control characters (a newline would start another "
                           f"line of the unit), got {value!r}")
    return value


def _secret_flags(run_args: list[str], *, system: bool) -> None:
    """``ServiceError`` for ``--code`` or ``--token`` among the run flags: the unit is readable by every
    account and ``ps`` shows the command line; the environment file is the place for them."""
    from api.settings import ENV_PREFIX, flag

    for name in SECRETS:
        if _has_flag(run_args, flag(name)):
            variable = ENV_PREFIX + name.upper()
            raise ServiceError(f"{flag(name)} is not written into the unit (every account can read it, and ps shows "
                               f"it); put {variable}=... in {ENV_FILES[system].replace('%h', '~')} instead")


def _word_name(words: list[str], k: int) -> str:
    """What ``words[k]`` of ExecStart is, for an error: its flag, or the talktime command."""
    if k == 0:
        return "the talktime command (ExecStart=)"
    if words[k].startswith("--"):
        return words[k].partition("=")[0]
    return words[k - 1] if words[k - 1].startswith("--") else "a run flag"


def _has_flag(run_args: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in run_args)


def _flag_value(run_args: list[str], name: str) -> str | None:
    """The value of ``name`` in ``run_args`` (``--x V`` or ``--x=V``; the last one wins), or None."""
    value = None
    for k, a in enumerate(run_args):
        if a == name and k + 1 < len(run_args):
            value = run_args[k + 1]
        elif a.startswith(name + "="):
            value = a.split("=", 1)[1]
    return value


def environment_flags(run_args: list[str], environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The ``TALKTIME_*`` variables of ``environ`` that ``talktime run`` would honour, as flags.

    Returns (flags to add, variables left out). A variable whose flag is already in ``run_args``
    is skipped (the flag wins, as in ``talktime run``); the code and token are left out, because
    they must not be written into a unit file. Paths are made absolute by ``unit_text``, as given flags are.
    Values are written as ``--flag=value``, so one that starts with ``-`` stays a value; one with a
    control character is a ``ServiceError`` naming the variable.
    """
    from api.settings import ENV_PREFIX, Settings, flag

    added: list[str] = []
    left_out: list[str] = []
    for name, info in Settings.model_fields.items():
        variable = ENV_PREFIX + name.upper()
        value = next((v for k, v in environ.items() if k.upper() == variable), None)
        if value is None or _has_flag(run_args, flag(name)) or (
                info.annotation is bool and _has_flag(run_args, "--no-" + flag(name)[2:])):
            continue
        if name in SECRETS:
            left_out.append(variable)
            continue
        _unit_value(value, variable)
        if info.annotation is bool:
            on = value.strip().lower() in ("1", "true", "yes", "on", "t", "y")
            added.append(flag(name) if on else "--no-" + flag(name)[2:])
        else:
            added.append(f"{flag(name)}={value}")
    return added, left_out


def system_account(name: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The account a system service runs as: ``name``, else the one that ran sudo, else the current one.

    Root only when ``name`` says ``root``: a tracker that listens on the network should not run
    with every privilege by accident. ``ServiceError`` for root by default or an unknown account.
    """
    env = os.environ if environ is None else environ
    chosen = name or (env.get("SUDO_USER") if os.geteuid() == 0 else None) or getpass.getuser()
    if chosen == "root" and name != "root":
        raise ServiceError("the system service would run as root; expected the account that should own the "
                           "meetings, a member of the audio group: --user NAME (--user root if you mean root)")
    try:
        pwd.getpwnam(chosen)
    except KeyError:
        raise ServiceError(f"no account named {chosen!r} on this machine; expected an existing user "
                           "(--user NAME)") from None
    return chosen


def _absolute_paths(run_args: list[str]) -> list[str]:
    """``run_args`` with every path-valued flag (``--data-dir``, ``--input``, ``--roster``, ...) made
    absolute: systemd starts the service in ``/``, so a path relative to here would name another file."""
    from api.settings import Settings, flag

    path_flags = {flag(n) for n, info in Settings.model_fields.items() if "Path" in str(info.annotation)}
    out: list[str] = []
    take_next = False
    for a in run_args:
        name, eq, value = a.partition("=")
        if take_next:
            out.append(str(Path(a).expanduser().absolute()))
        elif eq and name in path_flags:
            out.append(f"{name}={Path(value).expanduser().absolute()}")
        else:
            out.append(a)
        take_next = not take_next and not eq and a in path_flags
    return out


def unit_text(run_args: list[str], *, system: bool = False, executable: Path | None = None, user: str | None = None) -> str:
    """The systemd unit that runs ``talktime run RUN_ARGS`` at boot and restarts it whenever it stops.

    Parameters
    ----------
    run_args : flags of ``talktime run`` (checked by the caller); ``--data-dir`` is added if absent.
    system : a system service (ALSA, as ``user``) instead of a user service (PipeWire/PulseAudio).
    executable : the talktime command (default: this environment's).
    user : the account a system service runs as (default: ``system_account(None)``).

    ``ServiceError`` when a value holds a control character (it would inject a line into the unit).
    """
    exe = executable or talktime_executable()
    args = _absolute_paths(list(run_args))
    if not _has_flag(args, "--data-dir"):
        args += ["--data-dir", str(SYSTEM_DATA_DIR if system else default_data_dir().expanduser().absolute())]
    data_dir = Path(_flag_value(args, "--data-dir") or SYSTEM_DATA_DIR)
    words = [str(exe), "run", *args]
    exec_start = " ".join(_quote(_unit_value(a, _word_name(words, k))) for k, a in enumerate(words))
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
        f"EnvironmentFile=-{ENV_FILES[system]}",
        "NoNewPrivileges=yes",
        "LockPersonality=yes",
        "RestrictSUIDSGID=yes",
        "RestrictNamespaces=yes",
        "SystemCallArchitectures=native",
        "UMask=0077",
    ]
    if system:
        lines += [
            f"User={_unit_value(user or system_account(None), 'User=')}",
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
        if data_dir != SYSTEM_DATA_DIR:  # ProtectSystem=strict leaves only the StateDirectory writable
            lines.append(f"ReadWritePaths={_quote(_unit_value(str(data_dir), 'ReadWritePaths= (--data-dir)'))}")
    lines += ["", "[Install]", f"WantedBy={'multi-user.target' if system else 'default.target'}", ""]
    return "\n".join(lines)


def unit_dir(*, system: bool, override: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Where ``install`` writes the unit: ``override``, else ``$TALKTIME_UNIT_DIR``, else systemd's folder."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    chosen = override or env.get(UNIT_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    if system:
        return SYSTEM_UNIT_DIR
    config = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def read_by_systemd(folder: Path, *, system: bool) -> bool:
    """Whether systemd looks for units in ``folder`` (for a user unit: also ``~/.config/systemd/user``)."""
    known = {Path(d) for d in SYSTEMD_DIRS[system]}
    if not system:
        own = unit_dir(system=False, environ={k: v for k, v in os.environ.items() if k != UNIT_DIR_ENV})
        known |= {own, Path.home() / ".config/systemd/user", Path.home() / ".local/share/systemd/user"}
    return folder.expanduser().absolute() in {d.absolute() for d in known}


def enable_commands(*, system: bool, path: Path | None = None, data_dir: Path | None = None,
                    user: str | None = None) -> list[str]:
    """The commands that start the unit at ``path`` now and at every boot.

    A unit in a folder systemd does not read is enabled by its full path, which links it in. A
    system service's ``data_dir`` other than ``/var/lib/talktime`` must exist, owned by ``user``,
    because its sandbox cannot create it.
    """
    unit = UNIT_NAME
    notes = []
    if path is not None and not read_by_systemd(path.parent, system=system):
        unit = str(path.absolute())
        notes = [f"# systemd does not read {path.parent}: `enable` with the full path links the unit in"]
    if system:
        if data_dir is not None and data_dir != SYSTEM_DATA_DIR:
            notes.append(f"sudo install -d -m 700 -o {shlex.quote(user or 'root')} {shlex.quote(str(data_dir))}"
                         "    # the data folder: the sandbox cannot create it")
        return [*notes, "sudo systemctl daemon-reload", f"sudo systemctl enable --now {shlex.quote(unit)}",
                f"journalctl -u {UNIT_NAME} -f    # its log"]
    return [
        *notes,
        "systemctl --user daemon-reload",
        f"systemctl --user enable --now {shlex.quote(unit)}",
        f"sudo loginctl enable-linger {getpass.getuser()}    # start at boot, before anyone logs in",
        f"journalctl --user -u {UNIT_NAME} -f    # its log",
    ]


class _RunFlags(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ServiceError(f"expected flags of `talktime run` after the action: {message}")


def _check_run_args(run_args: list[str]) -> None:
    """Parse the flags as ``talktime run`` would, so a typo fails now rather than at every boot."""
    from api.settings import SettingsError, add_cli_arguments, settings_from_args

    parser = _RunFlags(prog="talktime run", add_help=False, allow_abbrev=False)  # as `talktime run` parses them
    add_cli_arguments(parser)
    parsed, unknown = parser.parse_known_args(run_args)
    for word in unknown:  # `talktime run` refuses an abbreviation: say which flag was meant
        name = word.partition("=")[0]
        meant = [o for o in parser._option_string_actions if name.startswith("--") and o.startswith(name)]
        if meant:
            raise ServiceError(f"expected flags of `talktime run` written in full, got {name} "
                               f"(did you mean {' or '.join(sorted(meant))}?)")
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        settings_from_args(parsed)
    except SettingsError as exc:
        raise ServiceError(f"the run flags are not valid: {exc}") from None


def _own_flags(args: argparse.Namespace) -> list[str]:
    """The run flags, after taking out ``--system``, ``--unit-dir`` and ``--user`` given after the action."""
    rest: list[str] = []
    words = iter(args.run_args)
    for word in words:
        if word == "--system":
            args.system = True
        elif word in ("--unit-dir", "--user"):
            value = next(words, None)
            if value is None:
                raise ServiceError(f"{word} expected a {'folder' if word == '--unit-dir' else 'user name'}")
            setattr(args, word[2:].replace("-", "_"), value)
        elif word.startswith(("--unit-dir=", "--user=")):
            key, value = word[2:].split("=", 1)
            setattr(args, key.replace("-", "_"), value)
        elif word != "--":
            rest.append(word)
    return rest


def cmd_service(args: argparse.Namespace) -> int:
    run_args = _own_flags(args)
    _check_run_args(run_args)
    _secret_flags(run_args, system=args.system)
    if args.user is not None and not args.system:
        raise ServiceError("--user expected --system beside it: the user service runs as the account that installs "
                           "it (run `talktime service install` as the desktop user, without sudo)")
    account = system_account(args.user) if args.system else getpass.getuser()
    added, left_out = environment_flags(run_args, os.environ)
    text = unit_text(run_args + added, system=args.system, user=account)  # refused before any note is printed
    for variable in left_out:
        print(f"talktime: {variable} is not written into the unit (every account can read it); put "
              f"{variable}=... in {ENV_FILES[args.system].replace('%h', '~')} instead", file=sys.stderr)
    if not args.system and account == "root":
        print("talktime: note: this user service is root's; the room's microphone usually belongs to the desktop "
              "user's sound server, so run `talktime service install` as that user (without sudo)", file=sys.stderr)
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
    data_dir = _flag_value(_absolute_paths(run_args + added), "--data-dir")
    commands = enable_commands(system=args.system, path=path, data_dir=None if data_dir is None else Path(data_dir),
                               user=account)
    print("\n".join(f"  {c}" for c in commands))
    return 0


def add_service_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``talktime service print|install``."""
    s = sub.add_parser(
        "service", allow_abbrev=False, help="run the tracker at boot as a systemd service (print or install its unit)",
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
    s.add_argument("--user", metavar="NAME",
                   help="--system: the account the service runs as (default: the one that ran sudo, else the "
                        "current one; root only as --user root)")
    s.add_argument("run_args", nargs=argparse.REMAINDER, metavar="RUN FLAGS", help="flags of `talktime run`")
    s.set_defaults(func=cmd_service)
