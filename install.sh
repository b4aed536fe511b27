#!/usr/bin/env bash
# Install rigbot on Debian or Ubuntu: the Debian packages it needs, then a virtual environment in ./.venv
# with rigbot (editable), PyTorch (CPU build), MuJoCo, ROS 2's rclpy (pip wheels) and the test tools.
# Safe to run again. Set PYTHON to choose the interpreter (default: python3, 3.10 or newer).
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# EGL/OSMesa for headless MuJoCo rendering, GL and glib for OpenCV, libusb for RealSense cameras.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  python3-venv libegl1 libgl1 libgl1-mesa-dri libosmesa6 libglib2.0-0 libusb-1.0-0 >/dev/null

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU build; an unpinned torch would pull several GB of CUDA packages.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[ros,test]"
.venv/bin/rigbot doctor
echo "rigbot is installed in .venv: run '.venv/bin/rigbot --help', or 'source .venv/bin/activate' first."
