"""Ending a process that has used both librealsense and ROS 2.

When pyrealsense2 has opened a context and rclpy has run in the same process, their native libraries crash in
their static destructors after Python has finished (SIGSEGV at exit, seen with pyrealsense2 2.5x and rclpy 9 on
Debian 12). By then rigbot has closed its cameras, stopped its nodes and flushed its files, so such a process
leaves with its exit status directly, skipping those destructors.
"""
from __future__ import annotations

import logging
import os
import sys


def finish(code: int) -> int:
    """Return ``code``; or, when librealsense and ROS 2 were both loaded, leave the process now with it."""
    if "pyrealsense2" in sys.modules and "rclpy" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
