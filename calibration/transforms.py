"""Rigid transforms as 4 x 4 matrices, quaternions in ROS order (x, y, z, w), and camera axis conventions.

Names read as frames: ``T_base_cam`` maps points in the camera frame to the base frame (the camera's pose in
the base frame). The camera frame is OpenCV's optical frame (x right, y down, z forward), as in ROS's
``*_optical_frame``; MuJoCo cameras look along their -z with y up, so ``MUJOCO_FROM_OPTICAL`` converts.
"""
from __future__ import annotations

import numpy as np

# Columns: the optical frame's axes in a MuJoCo camera's frame (x same, y and z flipped).
MUJOCO_FROM_OPTICAL = np.diag([1.0, -1.0, -1.0])


def transform(rotation: np.ndarray, translation) -> np.ndarray:
    """A 4 x 4 homogeneous transform from a 3 x 3 rotation and a translation."""
    T = np.eye(4)
    T[:3, :3] = rotation
    T[:3, 3] = np.asarray(translation, dtype=float).reshape(3)
    return T


def invert(T: np.ndarray) -> np.ndarray:
    R, t = T[:3, :3], T[:3, 3]
    return transform(R.T, -R.T @ t)


def from_rvec(rvec, tvec) -> np.ndarray:
    """OpenCV's (Rodrigues vector, translation) as a transform."""
    import cv2

    R, _ = cv2.Rodrigues(np.asarray(rvec, dtype=float).reshape(3, 1))
    return transform(R, tvec)


def rotation_vector(R: np.ndarray) -> np.ndarray:
    """Axis times angle (radians) of a rotation matrix: the matrix logarithm, well behaved up to pi."""
    import cv2

    rvec, _ = cv2.Rodrigues(np.asarray(R, dtype=float))
    return rvec.reshape(3)


def rotation_angle_deg(R: np.ndarray) -> float:
    """The angle of a rotation, degrees (0 for the identity); use on R_a.T @ R_b for the angle between two."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))


def quaternion_to_matrix(q_xyzw) -> np.ndarray:
    """A unit quaternion in ROS order (x, y, z, w) as a rotation matrix; refuses one far from unit length."""
    q = np.asarray(q_xyzw, dtype=float).reshape(4)
    n = np.linalg.norm(q)
    if not np.all(np.isfinite(q)) or abs(n - 1.0) > 1e-3:
        raise ValueError(f"quaternion {q.tolist()} (x, y, z, w) is not of unit length (|q| = {n:.4g}); "
                         "check the order: rigbot uses ROS's x, y, z, w")
    x, y, z, w = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """A rotation matrix as a unit quaternion (x, y, z, w) with w >= 0."""
    R = np.asarray(R, dtype=float)
    # Shepperd's method: pick the largest of w, x, y, z to divide by, for accuracy at any angle.
    tr = np.trace(R)
    candidates = [tr, R[0, 0], R[1, 1], R[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + tr)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    elif k == 1:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [s / 4, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif k == 2:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, s / 4, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, s / 4, (R[1, 0] - R[0, 1]) / s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def pose_error(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """(translation error in metres, rotation error in degrees) between two poses."""
    return (float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3])),
            rotation_angle_deg(T_est[:3, :3].T @ T_true[:3, :3]))


def project_orthonormal(M: np.ndarray) -> np.ndarray:
    """The rotation matrix nearest to ``M`` (Frobenius norm), via the SVD."""
    U, _, Vt = np.linalg.svd(M)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        R = U @ np.diag([1.0, 1.0, -1.0]) @ Vt
    return R
