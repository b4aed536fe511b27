"""The image region of interest: the square of the camera image that holds the whole workspace.

The workspace box's corners are projected into the image with the calibrated camera; the region is the square
around them (the preprocessing resizes it to a square model input, so a square keeps the proportions), plus a
margin, moved back inside the image where it sticks out.
"""
from __future__ import annotations

import numpy as np

from rigbot.calibration.camera_info import CameraIntrinsics
from rigbot.calibration.deployment import Box
from rigbot.calibration.intrinsics import CalibrationError
from rigbot.calibration.transforms import invert


def workspace_roi(camera: CameraIntrinsics, T_base_cam: np.ndarray, box: Box,
                  margin_px: int = 8) -> tuple[tuple[int, int, int, int], bool]:
    """((x, y, width, height), whether the whole box is in view) for the square region around the box's image."""
    corners = box.corners()
    cam = (invert(T_base_cam) @ np.hstack([corners, np.ones((8, 1))]).T).T[:, :3]
    if np.any(cam[:, 2] <= 0.01):
        raise CalibrationError("part of the workspace box lies behind the camera: check the camera pose (hand-eye) and "
                               "the workspace")
    uv = camera.project(cam)
    if not np.all(np.isfinite(uv)):
        raise CalibrationError("the workspace box does not project to finite pixels: check the camera pose and "
                               "intrinsics")
    lo, hi = uv.min(axis=0) - margin_px, uv.max(axis=0) + margin_px
    in_view = bool(np.all(uv >= 0) and uv[:, 0].max() <= camera.width - 1 and uv[:, 1].max() <= camera.height - 1)
    side = int(np.ceil(min(max(hi - lo), camera.width, camera.height)))
    centre = (lo + hi) / 2
    x = int(np.clip(round(centre[0] - side / 2), 0, camera.width - side))
    y = int(np.clip(round(centre[1] - side / 2), 0, camera.height - side))
    return (x, y, side, side), in_view
