"""Where a board is relative to a calibrated camera (a perspective-n-point fit), and where the camera is.

The pose comes from OpenCV's IPPE solver for planar targets, refined by Levenberg-Marquardt on the reprojection
error. A board whose origin cannot be told from the image (a symmetric chessboard) is refused, because its pose
could come out turned by 180 degrees.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rigbot.calibration.board_detection import BoardView
from rigbot.calibration.boards import Board
from rigbot.calibration.camera_info import CameraIntrinsics
from rigbot.calibration.transforms import from_rvec, invert


@dataclass(frozen=True)
class BoardPose:
    T_cam_board: np.ndarray
    """The board frame in the camera's optical frame, 4 x 4."""
    rms_px: float
    """Reprojection error of the fit, pixels (RMS)."""


def require_unambiguous(board: Board) -> None:
    if not board.unambiguous:
        raise ValueError(f"the {board.describe()} looks the same turned by 180 degrees, so its pose is ambiguous: "
                         "use a chessboard with one odd and one even inner-corner count (e.g. 9x6) or a ChArUco board")


def board_pose(view: BoardView, camera: CameraIntrinsics, board: Board) -> BoardPose:
    """The board's pose in the camera frame from one view of it."""
    require_unambiguous(board)
    if view.image_size != (camera.width, camera.height):
        raise ValueError(f"the image is {view.image_size[0]} x {view.image_size[1]} but the camera calibration is for "
                         f"{camera.width} x {camera.height}")
    obj = view.object_points.reshape(-1, 1, 3).astype(np.float64)
    img = view.image_points.reshape(-1, 1, 2).astype(np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera.K, camera.D, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise ValueError("no board pose fits these corners (solvePnP failed)")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, camera.K, camera.D, rvec, tvec)
    projected, _ = cv2.projectPoints(obj, rvec, tvec, camera.K, camera.D)
    rms = float(np.sqrt(np.mean(np.sum((projected - img) ** 2, axis=2))))
    T = from_rvec(rvec, tvec)
    if T[2, 3] <= 0:
        raise ValueError("the fitted board pose lies behind the camera: the corners or the calibration are wrong")
    return BoardPose(T, rms)


def locate_camera(view: BoardView, camera: CameraIntrinsics, board: Board, T_world_board: np.ndarray) -> np.ndarray:
    """The camera's optical frame in the world frame, from a view of a board whose world pose is known."""
    return T_world_board @ invert(board_pose(view, camera, board).T_cam_board)
