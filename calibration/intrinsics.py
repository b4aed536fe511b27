"""Camera intrinsics from images of a board (Zhang's method, as OpenCV's calibrateCamera implements it).

Every image is checked first (``board_detection``): missing, partial and blurred boards are skipped and named
with the reason. After a first fit, a view that fits far worse than the others (a board that moved during the
exposure, a wrong detection) is dropped and the fit repeated. The result is refused, not returned, when too few
views are left, when it fits badly, or when the focal length is poorly pinned down (too few tilted views): a
wrong calibration would quietly spoil everything after it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import cv2
import numpy as np

from rigbot.calibration.board_detection import DEFAULT_MAX_EDGE_WIDTH_PX, BoardNotFound, BoardView, detect_board
from rigbot.calibration.boards import Board
from rigbot.calibration.camera_info import CameraIntrinsics


class CalibrationError(ValueError):
    """The data cannot give a trustworthy calibration; the message says why and what to do."""


def require_positive(**thresholds: float) -> None:
    """Each threshold must be a finite number above zero: a NaN limit would make every 'value > limit' False and
    turn its check off, and a zero one divides by zero. ValueError naming the first bad one."""
    for name, value in thresholds.items():
        try:
            ok = math.isfinite(value) and value > 0
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a finite number above zero, got {value!r}")


@dataclass
class IntrinsicsResult:
    camera: CameraIntrinsics
    rms_px: float
    """Reprojection error over all corners of the views used, pixels (RMS)."""
    per_image_px: dict[str, float]
    """Each used image's RMS reprojection error, pixels."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Each image not used, with the reason."""
    focal_uncertainty: float = 0.0
    """Relative standard deviation of fx and fy (the larger), as OpenCV estimates it."""
    views: dict[str, BoardView] = field(default_factory=dict)

    def report(self) -> str:
        c = self.camera
        lines = [f"fx {c.fx:.2f}  fy {c.fy:.2f}  cx {c.cx:.2f}  cy {c.cy:.2f} px  ({c.width} x {c.height}); "
                 f"distortion {np.array2string(c.D, precision=4, separator=', ')}",
                 f"reprojection error {self.rms_px:.3f} px RMS over {len(self.per_image_px)} images; focal length "
                 f"uncertainty {100 * self.focal_uncertainty:.2f} %"]
        lines += [f"  used     {name}: {err:.3f} px" for name, err in self.per_image_px.items()]
        lines += [f"  skipped  {name}: {reason}" for name, reason in self.skipped.items()]
        return "\n".join(lines)


def calibrate_intrinsics(images: Iterable[tuple[str, np.ndarray]], board: Board, camera_name: str = "camera",
                         min_views: int = 6, max_rms_px: float = 1.0, max_focal_uncertainty: float = 0.01,
                         rational_model: bool = False, fix_k3: bool = True,
                         max_edge_width_px: float = DEFAULT_MAX_EDGE_WIDTH_PX,
                         min_tilted_views: int = 3) -> IntrinsicsResult:
    """Calibrate from (name, image) pairs; CalibrationError when the result could not be trusted.

    ``fix_k3``: keep the third radial coefficient at 0, as ROS's camera_calibration does by default (it is
    poorly determined from few views). ``rational_model``: the 8-coefficient model for wide-angle lenses.
    """
    require_positive(max_rms_px=max_rms_px, max_focal_uncertainty=max_focal_uncertainty,
                     max_edge_width_px=max_edge_width_px, min_views=min_views)
    views: dict[str, BoardView] = {}
    skipped: dict[str, str] = {}
    size = None
    for name, image in images:
        try:
            view = detect_board(image, board, max_edge_width_px)
        except BoardNotFound as e:
            skipped[name] = e.reason
            continue
        if size is None:
            size = view.image_size
        if view.image_size != size:
            skipped[name] = f"image is {view.image_size[0]} x {view.image_size[1]}, the others {size[0]} x {size[1]}"
            continue
        views[name] = view
    flags = cv2.CALIB_RATIONAL_MODEL if rational_model else (cv2.CALIB_FIX_K3 if fix_k3 else 0)

    def need_views():
        if len(views) < min_views:
            why = "".join(f"\n  {n}: {r}" for n, r in skipped.items())
            raise CalibrationError(f"only {len(views)} usable view(s) of the {board.describe()}, at least {min_views} "
                                   f"needed{'; skipped:' + why if why else ''}")

    need_views()
    rms, K, D, per_view, std, rvecs = _fit(views, size, flags)
    _check_tilts(views, rvecs, min_tilted_views)
    median = float(np.median(per_view))
    outliers = [n for n, e in zip(views, per_view) if e > max(3 * median, 0.5 * max_rms_px)]
    if outliers and len(views) - len(outliers) >= min_views:
        for n, e in zip(list(views), per_view):
            if n in outliers:
                skipped[n] = (f"fits far worse than the others ({e:.2f} px against a median of {median:.2f} px): "
                              "the board moved or bent, or its corners were found wrongly")
                del views[n]
        rms, K, D, per_view, std, rvecs = _fit(views, size, flags)
    focal_uncertainty = float(max(std[0] / K[0, 0], std[1] / K[1, 1]))
    # Written so that a NaN error (a degenerate fit) fails the check instead of passing it.
    if not rms <= max_rms_px:
        raise CalibrationError(f"reprojection error {rms:.2f} px is above the {max_rms_px:g} px allowed: check the "
                               "square size and board, hold the board flat and still, and take sharper images")
    if not focal_uncertainty <= max_focal_uncertainty:
        raise CalibrationError(f"the focal length is poorly determined (+/- {100 * focal_uncertainty:.1f} %, at most "
                               f"{100 * max_focal_uncertainty:g} % allowed): add views with the board tilted by "
                               "30 to 45 degrees in different directions, and at different distances")
    distortion_model = "rational_polynomial" if rational_model else "plumb_bob"
    n_coeffs = 8 if rational_model else 5
    camera = CameraIntrinsics(size[0], size[1], K, D.reshape(-1)[:n_coeffs], camera_name, distortion_model)
    return IntrinsicsResult(camera, float(rms), {n: float(e) for n, e in zip(views, per_view)}, skipped,
                            focal_uncertainty, views)


def _fit(views: dict[str, BoardView], size: tuple[int, int], flags: int):
    obj = [v.object_points.reshape(-1, 1, 3) for v in views.values()]
    img = [v.image_points.reshape(-1, 1, 2) for v in views.values()]
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    rms, K, D, rvecs, _, std_intrinsics, _, per_view = cv2.calibrateCameraExtended(
        obj, img, size, None, None, flags=flags, criteria=criteria)
    return rms, K, D, np.asarray(per_view).reshape(-1), np.asarray(std_intrinsics).reshape(-1), rvecs


def _check_tilts(views: dict[str, BoardView], rvecs, min_tilted_views: int, min_tilt_deg: float = 15.0) -> None:
    """Zhang's method needs the board in planes that are not parallel: boards that all face the camera squarely
    leave the focal length undetermined (it trades off against distance and distortion), while OpenCV still
    reports a small error and a small uncertainty. So count the views whose board is tilted."""
    tilts = [np.degrees(np.arccos(abs(cv2.Rodrigues(r)[0][2, 2]))) for r in rvecs]
    tilted = sum(t >= min_tilt_deg for t in tilts)
    if tilted < min_tilted_views:
        raise CalibrationError(
            f"the focal length is not determined: only {tilted} of {len(views)} views show the board tilted by "
            f"{min_tilt_deg:g} degrees or more against the image plane (at least {min_tilted_views} needed; tilts: "
            f"{', '.join(f'{t:.0f}' for t in tilts)} degrees). Add views with the board tilted by 30 to 45 degrees "
            "in different directions")
