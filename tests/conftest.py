"""Shared fixtures of the audio pipeline's tests.

- ``pipeline``: the real models, loaded once per session (about 2 s) and handed to each test as
  built (a test's session or profiles do not leak into the next), and ``analyzed`` results of the
  fixture recordings, computed once per (file, mode).
- ``fake_encoder`` / ``energy_vad`` / ``fake_pipeline``: fakes with the real call signatures
  (see ``fakes.py``) for fast, exact unit tests.
- ``pulse_server``: a private PulseAudio daemon with a 16 kHz mono null sink whose monitor is the
  default source, so a test can play a file into the "room" and capture it in real time.
- ``sox``: the sox command line, to make test audio in other formats.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import models  # noqa: F401 - turns pyannote's telemetry off before anything imports it
from fakes import FAKE_CONFIG, EnergyVad, FakeEncoder
from tracker.pipeline.analysis import Analysis, analyze
from tracker.pipeline.pipeline import Pipeline
from tracker.pipeline.build import build_pipeline, lite_pipeline

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SHARED_EVAL = REPO.parent / "shared" / "eval"
SETUP_HINT = "run `make test`, or `scripts/bootstrap.sh --dev`, which installs the test tools"


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every meeting the tests store (in-process or in a `talktime run` subprocess) out of
    the user's own data folder."""
    old = os.environ.get("TALKTIME_DATA_DIR")
    os.environ["TALKTIME_DATA_DIR"] = str(tmp_path_factory.mktemp("talktime-data"))
    yield
    if old is None:
        os.environ.pop("TALKTIME_DATA_DIR", None)
    else:
        os.environ["TALKTIME_DATA_DIR"] = old


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_EVAL.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the shared evaluation data at {SHARED_EVAL}, which is absent")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


# --------------------------------------------------------------------------- real models


@pytest.fixture(scope="session")
def loaded_pipeline() -> Pipeline:
    """The default pipeline with the real models (the neural engine), loaded once per session."""
    return build_pipeline()


def _as_built(pipeline: Pipeline) -> Pipeline:
    """``pipeline`` with what a test may have changed put back: a ``MeetingSession`` makes it keep
    only a live meeting's history (``keep_live_history``), and profiles may be in use."""
    pipeline.keep_history = True
    pipeline.revisable = False
    pipeline.use_profiles(None)  # resets it too
    return pipeline


@pytest.fixture
def pipeline(loaded_pipeline: Pipeline) -> Pipeline:
    """The session's real-model pipeline, as built and reset."""
    return _as_built(loaded_pipeline)


@pytest.fixture(scope="session")
def analyzed(loaded_pipeline: Pipeline) -> Callable[[Path, str], Analysis]:
    """``analyzed(path, mode)``: ``tracker.pipeline.analysis.analyze`` with the real models, cached per session."""
    cache: dict[tuple[Path, str], Analysis] = {}

    def get(path: Path, mode: str) -> Analysis:
        key = (Path(path), mode)
        if key not in cache:
            cache[key] = analyze(path, _as_built(loaded_pipeline), mode=mode)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def pyannote_sample() -> Path:
    """The 30 s two-person call that ships inside pyannote.audio (found without importing it)."""
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"pyannote.audio is not installed; {SETUP_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "sample" / "sample.wav"
    if not path.is_file():
        pytest.fail(f"pyannote.audio's sample is missing: expected {path}")
    return path


# --------------------------------------------------------------------------- fakes


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def energy_vad() -> EnergyVad:
    return EnergyVad()


@pytest.fixture
def fake_pipeline(fake_encoder: FakeEncoder, energy_vad: EnergyVad) -> Pipeline:
    """The real Pipeline wiring over the fake models (VAD smoothing pinned, see ``fakes.FAKE_VAD``)."""
    return lite_pipeline(FAKE_CONFIG, vad_model=energy_vad, encoder=fake_encoder)


# --------------------------------------------------------------------------- tools


def eval_folder(folder: Path, stem: str = "meeting3") -> Path:
    """``folder`` laid out like ../shared/eval/dev (``wav/``, ``rttm/``) with one of tests/data's meetings."""
    for sub in ("wav", "rttm"):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / f"{stem}.{sub}").symlink_to(DATA / f"{stem}.{sub}")
    return folder


def run_diagnosis(script: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/<script> FOLDER --quiet --cache FOLDER/cache ARGS`` as a user runs it."""
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), str(folder), "--quiet",
                           "--cache", str(folder / "cache"), *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (Debian package {package}); {SETUP_HINT}")
    return path


@pytest.fixture(scope="session")
def sox() -> Callable[..., None]:
    """``sox(*args)`` runs sox quietly and fails the test with its message if it fails."""
    exe = _require("sox", "sox")

    def run(*args: str | Path) -> None:
        proc = subprocess.run([exe, "-V1", *map(str, args)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"sox {' '.join(map(str, args))} failed: {proc.stderr}")

    return run


# --------------------------------------------------------------------------- PulseAudio


@dataclass(frozen=True)
class PulseServer:
    """A running private PulseAudio daemon; ``env`` is what its clients need."""

    runtime_dir: Path
    sink: str
    env: dict[str, str]
    pid: int

    @property
    def source(self) -> str:
        return f"{self.sink}.monitor"

    def play(self, path: Path) -> subprocess.Popen[bytes]:
        """Start playing ``path`` into the null sink, in real time (``paplay``)."""
        return subprocess.Popen([_require("paplay", "pulseaudio-utils"), "-d", self.sink, str(path)], env=self.env)


def _reinit_portaudio() -> None:
    # NB: PortAudio (and ALSA's "pulse if running" hook) list devices once, at initialisation; a
    # sounddevice imported before the server started would not see it.
    if "sounddevice" in sys.modules:
        sd = sys.modules["sounddevice"]
        sd._terminate()  # noqa: SLF001 - sounddevice has no public rescan
        sd._initialize()  # noqa: SLF001


def _start_pulse(runtime: Path, sink: str) -> PulseServer:
    exe = _require("pulseaudio", "pulseaudio")
    pactl = _require("pactl", "pulseaudio-utils")
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PULSE_SERVER=f"unix:{runtime}/pulse/native",
               PULSE_COOKIE=str(runtime / "cookie"))
    daemon_env = dict(env, HOME=str(runtime))  # its state files go to the temp dir, not ~/.config
    # An idle limit instead of -1: should the test process be killed before teardown, the daemon
    # still goes away on its own (15 min is far longer than the suite).
    # No shared memory: a client whose server stops (at teardown) while it holds shared audio blocks
    # can deadlock in libpulse, and then PortAudio's termination waits for it for ever.
    cmd = [exe, "--daemonize=yes", "--exit-idle-time=900", "-n", "--use-pid-file=yes", "--disable-shm=yes",
           "--load=module-native-protocol-unix auth-anonymous=1",
           f"--load=module-null-sink sink_name={sink} rate=16000 channels=1",
           f"--log-target=file:{runtime / 'pulse.log'}"]
    proc = subprocess.run(cmd, env=daemon_env, capture_output=True, text=True)
    log = runtime / "pulse.log"
    if proc.returncode != 0:
        pytest.fail(f"pulseaudio did not start ({proc.returncode}): {proc.stderr}"
                    f"{log.read_text() if log.exists() else ''}")
    for _ in range(100):
        if subprocess.run([pactl, "info"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"pulseaudio started but does not answer: {log.read_text() if log.exists() else ''}")
    subprocess.run([pactl, "set-default-source", f"{sink}.monitor"], env=env, check=True)
    pid = int((runtime / "pulse" / "pid").read_text().split()[0])
    return PulseServer(runtime, sink, env, pid)


def _stop_pulse(server: PulseServer) -> None:
    try:
        os.kill(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        if not Path(f"/proc/{server.pid}").exists():
            return
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def pulse_server() -> Iterator[PulseServer]:
    """A private PulseAudio with a 16 kHz mono null sink; its monitor is the default source.

    The session's environment points at it (XDG_RUNTIME_DIR, PULSE_SERVER) until teardown, so
    sounddevice in this process and ``talktime`` subprocesses see ALSA's ``pulse`` device.
    """
    runtime = Path(tempfile.mkdtemp(prefix="talktime-pulse-"))  # short: unix socket paths are limited
    try:
        server = _start_pulse(runtime, "talktime_test")
    except BaseException:  # pytest.fail raises an OutcomeException, not an Exception
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    with pytest.MonkeyPatch.context() as mp:
        for key in ("XDG_RUNTIME_DIR", "PULSE_SERVER", "PULSE_COOKIE"):
            mp.setenv(key, server.env[key])
        try:
            _reinit_portaudio()
            import sounddevice as sd

            names = [d["name"] for d in sd.query_devices()]
            if "pulse" not in names:
                pytest.fail(f"PortAudio does not list ALSA's 'pulse' device (got {names}); expected the "
                            f"ALSA PulseAudio plugin (Debian package libasound2-plugins); {SETUP_HINT}")
            yield server
        finally:
            _stop_pulse(server)
            shutil.rmtree(runtime, ignore_errors=True)
    _reinit_portaudio()
