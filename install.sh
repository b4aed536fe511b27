#!/usr/bin/env bash
# Install rigbot on Debian or Ubuntu: the Debian packages it needs, then a virtual environment in ./.venv
# with exactly the versions in requirements.lock (the ones the test suite passed with) and rigbot (editable).
# Safe to run again. Set PYTHON to choose the interpreter (default: python3, 3.10 or newer).
#
#   ./install.sh                 install the locked versions (what CI runs)
#   ./install.sh --refresh-lock  resolve pyproject.toml's ranges to the newest releases in a fresh environment,
#                                run the test suite there, and rewrite requirements.lock only if it passes;
#                                then run ./install.sh again to move .venv onto the new lock
#
# PyTorch: `torch==2.13.0` takes the CPU build where pip finds one (this project's CI machines keep it on disk);
# from plain PyPI it is the CUDA build (several GB). For the CPU build elsewhere:
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu ./install.sh
# A CUDA build of PyTorch instead of the CPU one: after ./install.sh, install torch 2.13.0 from the CUDA index
# that https://pytorch.org/get-started/locally/ names for your CUDA version, e.g. `.venv/bin/python -m pip install
#   torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128`
# (`rigbot doctor` then reports torch as differing from the lock, which is expected). rigbot's --device auto (the
# default of train, eval, finetune, vae train and the policy and learner nodes) then uses the GPU.
set -euo pipefail
cd "$(dirname "$0")"
LOCK=requirements.lock

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# EGL/OSMesa for headless MuJoCo rendering, GL and glib for OpenCV, libusb for RealSense cameras.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  python3-venv libegl1 libgl1 libgl1-mesa-dri libosmesa6 libglib2.0-0 libusb-1.0-0 >/dev/null

PYTHON="${PYTHON:-python3}"

refresh_lock() {
  local tmp venv
  tmp="$(mktemp -d)"
  venv="$tmp/venv"
  trap 'rm -rf "$tmp"' RETURN
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  # torch first and pinned: the CPU build; an unpinned torch would pull several GB of CUDA packages.
  "$venv/bin/python" -m pip install -q "torch==2.13.0"
  "$venv/bin/python" -m pip install -q --upgrade -e ".[ros,test]"   # the newest releases the ranges admit
  "$venv/bin/python" -m rigbot.lock >"$tmp/lock"   # what pip installed, releases without local build labels
  echo "resolved $(wc -l <"$tmp/lock") packages; running the test suite with them (several minutes)"
  if ! "$venv/bin/python" -m pytest -q; then
    echo "the suite failed with the newest versions: $LOCK is unchanged; the differences were:" >&2
    diff <(sort "$LOCK") <(sort "$tmp/lock") >&2 || true
    return 1
  fi
  { echo "# Exact versions the test suite passed with; written by ./install.sh --refresh-lock on $(date -u +%F)."
    echo "# Installed by ./install.sh. Ranges for other environments are in pyproject.toml."
    cat "$tmp/lock"; } >"$LOCK"
  echo "the suite passed: $LOCK rewritten ($(grep -vc '^#' "$LOCK") packages); run ./install.sh to use it"
}

if [ "${1:-}" = "--refresh-lock" ]; then
  refresh_lock
  exit
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU build; an unpinned torch would pull several GB of CUDA packages.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -r "$LOCK"
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -m pip check
.venv/bin/rigbot doctor
echo "rigbot is installed in .venv: run '.venv/bin/rigbot --help', or 'source .venv/bin/activate' first."
