"""Calibration: camera intrinsics, hand-eye, workspace and speed limits, twin camera alignment. No ROS here."""
