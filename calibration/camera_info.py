"""Camera intrinsics, and the ROS ``camera_info`` YAML file that holds them.

The file layout is the one ROS's ``camera_calibration`` writes (``ost.yaml``) and ``camera_info_manager``
reads: image_width, image_height, camera_name, camera_matrix, distortion_model, distortion_coefficients,
rectification_matrix, projection_matrix, each matrix as rows, cols, data. rigbot writes the projection matrix as
[K | 0], so an image undistorted with K (``undistort``) has exactly the projection that the twin's camera is given.

Pixel coordinates are OpenCV's: the centre of the top-left pixel is (0, 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import yaml

from rigbot.config import ConfigDumper, ConfigError, read_yaml, short_repr
from rigbot.files import atomic_write_text
from rigbot.limits import MAX_IMAGE_SIDE_PX  # what a file may claim: the images it describes could not be read

DISTORTION_MODELS = {"plumb_bob": (4, 5), "rational_polynomial": (8, 8)}  # name: (fewest, most) coefficients
_MAX_MATRIX_SIDE = 16      # camera_info matrices are 3 x 3, 3 x 4 and 1 x 4..14


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera with lens distortion, for images of ``width`` x ``height`` pixels."""

    width: int
    height: int
    K: np.ndarray
    """3 x 3 camera matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]."""
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))
    """Distortion coefficients, OpenCV's order (k1, k2, p1, p2, k3[, k4, k5, k6])."""
    camera_name: str = "camera"
    distortion_model: str = "plumb_bob"

    def __post_init__(self):
        K = np.asarray(self.K, dtype=float)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", np.asarray(self.D, dtype=float).reshape(-1))
        problems = []
        if not (isinstance(self.width, int) and isinstance(self.height, int) and self.width > 0 and self.height > 0):
            problems.append(f"image size {self.width} x {self.height} must be positive whole pixels")
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            problems.append(f"camera_matrix must be 3 x 3 finite numbers, got {K.tolist()}")
        elif not (K[0, 0] > 0 and K[1, 1] > 0 and K[2, 2] == 1 and K[1, 0] == K[2, 0] == K[2, 1] == 0):
            problems.append(f"camera_matrix {K.tolist()} is not [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
        elif not (0 <= K[0, 2] < self.width and 0 <= K[1, 2] < self.height):
            problems.append(f"principal point ({K[0, 2]:.1f}, {K[1, 2]:.1f}) lies outside the {self.width} x "
                            f"{self.height} image")
        lo, hi = DISTORTION_MODELS.get(self.distortion_model, (None, None))
        if lo is None:
            problems.append(f"distortion_model {self.distortion_model!r} is not one of {', '.join(DISTORTION_MODELS)}")
        elif not lo <= len(self.D) <= hi or not np.all(np.isfinite(self.D)):
            problems.append(f"{self.distortion_model} takes {lo} to {hi} finite coefficients, got {self.D.tolist()}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @classmethod
    def from_fovy(cls, fovy_deg: float, width: int, height: int, camera_name: str = "camera") -> "CameraIntrinsics":
        """A distortion-free camera with square pixels and a centred principal point, as MuJoCo's ``fovy`` makes."""
        f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
        K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
        return cls(width, height, K, np.zeros(5), camera_name)

    def cropped(self, roi: tuple[int, int, int, int]) -> "CameraIntrinsics":
        """The camera that sees only the region of interest (x, y, width, height) of this one's images."""
        x, y, w, h = (int(v) for v in roi)
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise ValueError(f"region of interest {roi} (x, y, width, height) does not fit a {self.width} x "
                             f"{self.height} image")
        K = self.K.copy()
        K[0, 2] -= x
        K[1, 2] -= y
        return replace(self, width=w, height=h, K=K)

    def resized(self, width: int, height: int) -> "CameraIntrinsics":
        """The camera whose images are this one's resized to ``width`` x ``height`` (as cv2.resize does)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        # Pixel centres sit at half-integers of the pixel grid, so scale about the grid's corner, not pixel 0.
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return replace(self, width=width, height=height, K=K)

    def undistort(self, image: np.ndarray) -> np.ndarray:
        """The image as a distortion-free camera with the same K would see it (the twin's camera has no lens)."""
        if image.shape[1] != self.width or image.shape[0] != self.height:
            raise ValueError(f"image is {image.shape[1]} x {image.shape[0]}, the calibration is for "
                             f"{self.width} x {self.height}")
        return cv2.undistort(image, self.K, self.D)

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Pixel positions (N x 2) of points given in the camera's optical frame (N x 3), with distortion."""
        pts = np.asarray(points_cam, dtype=float).reshape(-1, 1, 3)
        uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), self.K, self.D)
        return uv.reshape(-1, 2)


def _matrix(rows: int, cols: int, values) -> dict:
    return {"rows": rows, "cols": cols, "data": [float(v) for v in np.asarray(values).reshape(-1)]}


def camera_info_dict(cam: CameraIntrinsics) -> dict:
    P = np.hstack([cam.K, np.zeros((3, 1))])
    return {
        "image_width": cam.width,
        "image_height": cam.height,
        "camera_name": cam.camera_name,
        "camera_matrix": _matrix(3, 3, cam.K),
        "distortion_model": cam.distortion_model,
        "distortion_coefficients": _matrix(1, len(cam.D), cam.D),
        "rectification_matrix": _matrix(3, 3, np.eye(3)),
        "projection_matrix": _matrix(3, 4, P),
    }


class _FlowLists(ConfigDumper):
    """Lists of numbers on one line, as camera_calibration writes them (and a camera named '1e5' quoted)."""


_FlowLists.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def save_camera_info(cam: CameraIntrinsics, path: str | Path, comment: str = "") -> Path:
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return atomic_write_text(path, header + yaml.dump(camera_info_dict(cam), Dumper=_FlowLists, sort_keys=False))


def load_camera_info(path: str | Path) -> CameraIntrinsics:
    """Read a camera_info YAML (rigbot's or ROS camera_calibration's); ConfigError naming the file and key."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a camera_info mapping (image_width, camera_matrix, ...), got "
                          f"{short_repr(data)}")

    def need(key: str):
        if key not in data:
            raise ConfigError(f"{path}: {key}: required key is missing (is this a camera_info YAML file?)")
        return data[key]

    def matrix(key: str, shape: tuple[int, int] | None) -> np.ndarray:
        m = need(key)
        if not isinstance(m, dict) or not {"rows", "cols", "data"} <= set(m):
            raise ConfigError(f"{path}: {key}: expected a mapping with rows, cols and data")
        for side in ("rows", "cols"):  # checked before they size anything
            n = m[side]
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_MATRIX_SIDE:
                raise ConfigError(f"{path}: {key}.{side}: expected a whole number from 1 to {_MAX_MATRIX_SIDE}, got "
                                  f"{short_repr(n)}")
        if not isinstance(m["data"], list) or len(m["data"]) > _MAX_MATRIX_SIDE ** 2:
            raise ConfigError(f"{path}: {key}.data: expected a list of rows x cols numbers, got "
                              f"{short_repr(m['data'])}")
        try:
            values = np.asarray(m["data"], dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {key}.data: expected a list of numbers, got {short_repr(m['data'])}") from None
        if values.size != m["rows"] * m["cols"] or (shape and (m["rows"], m["cols"]) != shape):
            raise ConfigError(f"{path}: {key}: expected {shape or (m['rows'], m['cols'])} = rows x cols numbers, got "
                              f"rows {m['rows']}, cols {m['cols']} and {values.size} numbers")
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"{path}: {key}.data: holds a NaN or infinite value")
        return values.reshape(m["rows"], m["cols"])

    for key in ("image_width", "image_height"):
        n = need(key)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGE_SIDE_PX:
            raise ConfigError(f"{path}: {key}: expected a whole number of pixels from 1 to {MAX_IMAGE_SIDE_PX}, got "
                              f"{short_repr(n)}")
    for key in ("camera_name", "distortion_model"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{path}: {key}: expected a string, got {short_repr(data[key])}")
    K = matrix("camera_matrix", (3, 3))
    D = matrix("distortion_coefficients", None).reshape(-1)
    R = matrix("rectification_matrix", (3, 3)) if "rectification_matrix" in data else np.eye(3)
    if not np.allclose(R, np.eye(3), atol=1e-6):
        raise ConfigError(f"{path}: rectification_matrix: not the identity, so this is one camera of a stereo pair; "
                          "rigbot expects a monocular calibration")
    try:
        return CameraIntrinsics(data["image_width"], data["image_height"], K, D,
                                data.get("camera_name", "camera"), need("distortion_model"))
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
