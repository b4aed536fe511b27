"""The workspace box from recorded hand positions: the person jogs the hand to the edges of where it may go,
and the box is what those positions span, shrunk by a safety margin on every side."""
from __future__ import annotations

import math

import numpy as np

from rigbot.calibration.deployment import Box
from rigbot.calibration.intrinsics import CalibrationError

MIN_SIDE_M = 0.01


def workspace_from_positions(positions: np.ndarray, margin: float = 0.01) -> Box:
    """The box spanned by ``positions`` (N x 3, metres), ``margin`` metres inside it on every side."""
    p = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(p) < 2:
        raise CalibrationError(f"need at least 2 recorded positions to span a box, got {len(p)}")
    if not np.all(np.isfinite(p)):
        raise CalibrationError("the recorded positions must be finite numbers (metres); some are NaN or infinite")
    if not (math.isfinite(margin) and margin >= 0):  # NaN would make every side NaN, and every check pass
        raise CalibrationError(f"margin must be zero or a positive number of metres, got {margin}")
    low, high = p.min(axis=0) + margin, p.max(axis=0) - margin
    for axis, lo, hi, span in zip("xyz", low, high, p.max(axis=0) - p.min(axis=0)):
        if hi - lo < MIN_SIDE_M:
            raise CalibrationError(
                f"the recorded positions span only {span * 1000:.0f} mm in {axis}, which leaves {max(hi - lo, 0) * 1000:.0f} "
                f"mm after the {margin * 1000:g} mm margin on each side (at least {MIN_SIDE_M * 1000:g} mm needed): "
                f"record the hand at the lowest and highest {axis} it may reach too")
    return Box(tuple(float(v) for v in low), tuple(float(v) for v in high))
