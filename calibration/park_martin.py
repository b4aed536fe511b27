"""Park and Martin's closed-form solution of AX = XB (Robot sensor calibration: solving AX = XB on the
Euclidean group, IEEE Trans. Robotics and Automation, 1994).

A_k and B_k are the same rigid motion seen in two frames; X relates the frames. Rotations: with
alpha = log(R_A) and beta = log(R_B), alpha = R_X beta for every pair, so R_X is the rotation that best maps the
betas onto the alphas (the paper's (M^T M)^(-1/2) M^T, computed here as the nearest rotation through an SVD).
Translations: (R_A - I) t_X = R_X t_B - t_A, stacked over all pairs and solved by least squares.
OpenCV offers the same method as calibrateHandEye(..., CALIB_HAND_EYE_PARK); some OpenCV builds (5.0's Python
bindings) lack that function, so rigbot carries its own.
"""
from __future__ import annotations

import numpy as np

from rigbot.calibration.transforms import project_orthonormal, rotation_vector, transform


def solve_ax_xb(A: list[np.ndarray], B: list[np.ndarray]) -> np.ndarray:
    """X (4 x 4) from motion pairs A_k X = X B_k; needs rotations about at least two non-parallel axes."""
    if len(A) != len(B) or len(A) < 2:
        raise ValueError(f"need at least 2 motion pairs, got {len(A)} A and {len(B)} B")
    alphas = np.array([rotation_vector(a[:3, :3]) for a in A])
    betas = np.array([rotation_vector(b[:3, :3]) for b in B])
    R = project_orthonormal(alphas.T @ betas)  # argmin_R sum |alpha - R beta|^2
    lhs = np.vstack([a[:3, :3] - np.eye(3) for a in A])
    rhs = np.concatenate([R @ b[:3, 3] - a[:3, 3] for a, b in zip(A, B)])
    t, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return transform(R, t)
