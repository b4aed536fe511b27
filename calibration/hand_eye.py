"""Hand-eye calibration for a camera fixed beside the arm (eye-to-hand): where the camera is in the robot's base frame.

A board is fixed to the arm's hand; for each of several hand poses the robot reports the hand's pose in its base
frame (E_i = T_base_hand) and the camera sees the board (C_i = T_cam_board). With X = T_base_cam and
Y = T_hand_board both unknown and constant, E_i Y = X C_i; two poses give A X = X B with A = E_j E_i^-1 and
B = C_j C_i^-1, solved by Park and Martin's method (OpenCV's calibrateHandEye when the installed OpenCV has it,
passing the inverted hand poses as OpenCV documents for eye-to-hand; rigbot's own ``park_martin`` otherwise).

Residuals: the board pose the robot predicts (X^-1 E_i Y) against the one the camera measures, per view, in mm,
degrees and pixels. A result whose residuals are too large is refused, with the likely causes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import cv2
import numpy as np

from rigbot.calibration.board_detection import BoardNotFound, detect_board
from rigbot.calibration.board_pose import board_pose, require_unambiguous
from rigbot.calibration.boards import Board
from rigbot.calibration.camera_info import CameraIntrinsics
from rigbot.calibration.intrinsics import CalibrationError, require_positive
from rigbot.calibration.park_martin import solve_ax_xb
from rigbot.calibration.transforms import invert, pose_error, project_orthonormal, rotation_vector, transform


@dataclass
class ViewResidual:
    translation_mm: float
    rotation_deg: float
    reprojection_px: float


@dataclass
class HandEyeResult:
    T_base_cam: np.ndarray
    """The camera's optical frame in the robot's base frame: the answer."""
    T_hand_board: np.ndarray
    """Where the board sits on the hand (a by-product; check it against a ruler)."""
    residuals: dict[str, ViewResidual]
    skipped: dict[str, str] = field(default_factory=dict)
    solver: str = ""

    @property
    def rms_translation_mm(self) -> float:
        return float(np.sqrt(np.mean([r.translation_mm ** 2 for r in self.residuals.values()])))

    @property
    def rms_rotation_deg(self) -> float:
        return float(np.sqrt(np.mean([r.rotation_deg ** 2 for r in self.residuals.values()])))

    @property
    def rms_reprojection_px(self) -> float:
        return float(np.sqrt(np.mean([r.reprojection_px ** 2 for r in self.residuals.values()])))

    def report(self) -> str:
        p = self.T_base_cam[:3, 3]
        lines = [f"camera in the base frame: position {np.round(p, 4).tolist()} m; solver: {self.solver}",
                 f"residuals over {len(self.residuals)} views (RMS): {self.rms_translation_mm:.2f} mm, "
                 f"{self.rms_rotation_deg:.3f} deg, {self.rms_reprojection_px:.2f} px"]
        lines += [f"  used     {n}: {r.translation_mm:.2f} mm, {r.rotation_deg:.3f} deg, {r.reprojection_px:.2f} px"
                  for n, r in self.residuals.items()]
        lines += [f"  skipped  {n}: {why}" for n, why in self.skipped.items()]
        return "\n".join(lines)


def _check_rotations(hand_poses: list[np.ndarray], min_angle_deg: float = 5.0) -> None:
    """Hand-eye needs the hand turned about at least two clearly different axes; else X is not determined."""
    axes = []
    for i in range(len(hand_poses)):
        for j in range(i + 1, len(hand_poses)):
            r = rotation_vector(hand_poses[j][:3, :3] @ hand_poses[i][:3, :3].T)
            if np.degrees(np.linalg.norm(r)) >= min_angle_deg:
                axes.append(r / np.linalg.norm(r))
    if axes:
        spread = max(np.degrees(np.arccos(np.clip(abs(a @ b), 0, 1))) for a in axes for b in axes)
        if spread >= 15.0:
            return
    raise CalibrationError(
        f"the hand poses do not turn the hand enough about two different axes (each turn of at least {min_angle_deg:g} "
        "degrees, axes at least 15 degrees apart): the camera pose is not determined. Tilt and turn the hand between "
        "views, by 15 to 40 degrees about different axes")


def _solve(hand_poses: list[np.ndarray], board_poses: list[np.ndarray]) -> tuple[np.ndarray, str]:
    if hasattr(cv2, "calibrateHandEye"):
        # OpenCV's eye-in-hand interface; for eye-to-hand it takes base->gripper and returns cam->base.
        base2hand = [invert(E) for E in hand_poses]
        R, t = cv2.calibrateHandEye([T[:3, :3] for T in base2hand], [T[:3, 3] for T in base2hand],
                                    [C[:3, :3] for C in board_poses], [C[:3, 3] for C in board_poses],
                                    method=cv2.CALIB_HAND_EYE_PARK)
        return transform(R, t), f"OpenCV {cv2.__version__} calibrateHandEye (Park)"
    n = len(hand_poses)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    A = [hand_poses[j] @ invert(hand_poses[i]) for i, j in pairs]
    B = [board_poses[j] @ invert(board_poses[i]) for i, j in pairs]
    return solve_ax_xb(A, B), "rigbot park_martin (this OpenCV has no calibrateHandEye)"


def calibrate_eye_to_hand(samples: Iterable[tuple[str, np.ndarray, np.ndarray]], camera: CameraIntrinsics,
                          board: Board, min_views: int = 5, max_translation_mm: float = 10.0,
                          max_rotation_deg: float = 1.0) -> HandEyeResult:
    """From (name, T_base_hand 4 x 4, image) samples; CalibrationError when the answer could not be trusted."""
    require_positive(max_translation_mm=max_translation_mm, max_rotation_deg=max_rotation_deg, min_views=min_views)
    require_unambiguous(board)
    names, hands, boards, views, skipped = [], [], [], [], {}
    for name, T_base_hand, image in samples:
        try:
            view = detect_board(image, board)
            pose = board_pose(view, camera, board)
        except BoardNotFound as e:
            skipped[name] = e.reason
            continue
        except ValueError as e:
            skipped[name] = str(e)
            continue
        names.append(name)
        hands.append(np.asarray(T_base_hand, dtype=float))
        boards.append(pose.T_cam_board)
        views.append(view)
    if len(names) < min_views:
        why = "".join(f"\n  {n}: {r}" for n, r in skipped.items())
        raise CalibrationError(f"only {len(names)} usable view(s), at least {min_views} needed"
                               f"{'; skipped:' + why if why else ''}")
    _check_rotations(hands)
    X, solver = _solve(hands, boards)
    Ys = [invert(E) @ X @ C for E, C in zip(hands, boards)]
    Y = transform(project_orthonormal(sum(T[:3, :3] for T in Ys)), np.mean([T[:3, 3] for T in Ys], axis=0))

    residuals = {}
    for name, E, C, view in zip(names, hands, boards, views):
        predicted = invert(X) @ E @ Y
        dt, dr = pose_error(predicted, C)
        pts = (predicted[:3, :3] @ view.object_points.T.astype(float)).T + predicted[:3, 3]
        px = np.sqrt(np.mean(np.sum((camera.project(pts) - view.image_points) ** 2, axis=1)))
        residuals[name] = ViewResidual(dt * 1000, dr, float(px))
    result = HandEyeResult(X, Y, residuals, skipped, solver)

    def within(r: ViewResidual) -> bool:  # written so that a NaN residual fails the check, never passes it
        return r.translation_mm <= max_translation_mm and r.rotation_deg <= max_rotation_deg

    def badness(name: str) -> float:
        r = residuals[name]
        score = r.translation_mm / max_translation_mm + r.rotation_deg / max_rotation_deg
        return score if math.isfinite(score) else math.inf  # a NaN view is the worst one

    worst = max(residuals, key=badness)
    r = residuals[worst]
    if not all(within(v) for v in residuals.values()):
        raise CalibrationError(
            f"the views do not agree on one camera pose: {worst} is off by {r.translation_mm:.1f} mm and "
            f"{r.rotation_deg:.2f} deg (at most {max_translation_mm:g} mm and {max_rotation_deg:g} deg allowed; RMS over "
            f"all views {result.rms_translation_mm:.1f} mm, {result.rms_rotation_deg:.2f} deg). Likely causes: poses "
            "paired with the wrong images, positions in millimetres instead of metres, a quaternion in w, x, y, z "
            "order instead of x, y, z, w, the pose of another link than the one holding the board, or a board that "
            "moved on the hand\n" + result.report())
    return result
