"""The twin's camera made to see what the real camera sees: calibrated intrinsics and pose on the MuJoCo camera.

MuJoCo's ``fovy`` alone describes only square pixels with a centred principal point. Its cameras also take a
sensor size with focal lengths and a principal point (``sensorsize``, ``focalpixel``, ``principalpixel``,
``resolution`` in MJCF), which give fx != fy and an off-centre principal point exactly; rigbot sets those, and
``fovy`` to the matching vertical field of view for tools that read only that. MuJoCo's principal point is an
offset from the image centre, and (measured on MuJoCo 4.0) a positive offset moves OpenCV's (cx, cy) towards
smaller values; the alignment test checks this against rendered ground truth. What MuJoCo cannot draw is lens
distortion: real frames are undistorted first (``CameraIntrinsics.undistort``), which leaves the same K.

The twin renders square model inputs directly, so its camera is the real camera *after* the preprocessing crop:
the intrinsics of the region of interest, which rendered at any N x N equal the crop resized to N x N.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from rigbot import config
from rigbot.calibration.camera_info import CameraIntrinsics
from rigbot.calibration.deployment import DeploymentConfig
from rigbot.calibration.transforms import MUJOCO_FROM_OPTICAL, matrix_to_quaternion
from rigbot.files import atomic_write_text
from rigbot.sim.rendering import mujoco

PIXEL_PITCH = 1e-5  # metres per pixel of the notional sensor; only the ratios matter to the picture


def centred_square(width: int, height: int) -> tuple[int, int, int, int]:
    """The region preprocessing uses when none is configured (see perception.preprocessing)."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


def model_input_camera(camera: CameraIntrinsics, roi: tuple[int, int, int, int] | None) -> CameraIntrinsics:
    """The camera that sees what the preprocessing keeps of a frame (the region of interest)."""
    return camera.cropped(roi if roi is not None else centred_square(camera.width, camera.height))


def set_camera(spec_camera: "mujoco.MjsCamera", camera: CameraIntrinsics, T_world_cam: np.ndarray) -> None:
    """Give a fixed MuJoCo camera (a child of the world body) these intrinsics and this optical-frame pose."""
    if spec_camera.parent is not None and spec_camera.parent.name not in ("world", ""):
        raise ValueError(f"camera {spec_camera.name!r} is attached to body {spec_camera.parent.name!r}; a calibrated "
                         "fixed camera must be a child of the world body")
    if abs(camera.K[0, 1]) > 1e-6 * camera.fx:
        raise ValueError(f"the camera matrix has skew {camera.K[0, 1]:.3g}, which MuJoCo cameras cannot show")
    R_mujoco = T_world_cam[:3, :3] @ MUJOCO_FROM_OPTICAL
    x, y, z, w = matrix_to_quaternion(R_mujoco)
    spec_camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT  # drop xyaxes/euler the MJCF may have used
    spec_camera.quat = [w, x, y, z]
    spec_camera.pos = T_world_cam[:3, 3].tolist()
    spec_camera.mode = mujoco.mjtCamLight.mjCAMLIGHT_FIXED
    spec_camera.resolution = [camera.width, camera.height]
    spec_camera.sensor_size = [camera.width * PIXEL_PITCH, camera.height * PIXEL_PITCH]
    spec_camera.focal_pixel = [camera.fx, camera.fy]
    spec_camera.principal_pixel = [(camera.width - 1) / 2 - camera.cx, (camera.height - 1) / 2 - camera.cy]
    spec_camera.fovy = math.degrees(2 * math.atan(camera.height / 2 / camera.fy))


def aligned_spec(deployment: DeploymentConfig, T_world_base: np.ndarray | None = None):
    """(robot config, MjSpec) of the deployment's twin with its camera aligned to the calibrated one.

    ``T_world_base``: where the robot's base frame is in the MJCF world (default: the same frame, as for the
    built-in arm whose base stands at the world origin).
    """
    from rigbot.sim.robot import load_robot, load_spec

    robot = load_robot(deployment.path_of(deployment.robot) if deployment.robot else None)
    spec = load_spec(robot)
    camera = model_input_camera(deployment.load_camera_info(), deployment.roi)
    T = deployment.T_base_cam() if T_world_base is None else T_world_base @ deployment.T_base_cam()
    set_camera(spec.camera(robot.camera), camera, T)
    return robot, spec


def write_aligned_robot(deployment: DeploymentConfig, out_dir: str | Path) -> Path:
    """Write the aligned twin as an MJCF and a robot YAML (workspace and speed from the deployment) in ``out_dir``.

    Use the YAML like any robot description: ``rigbot show reach --robot OUT_DIR/robot.yaml``.
    """
    robot, spec = aligned_spec(deployment)
    source_dir = robot.mjcf_path.resolve().parent
    # The copy lives elsewhere: point meshes and textures back at the original's folders.
    spec.meshdir = str((source_dir / spec.meshdir).resolve()) if spec.meshdir else str(source_dir)
    spec.texturedir = str((source_dir / spec.texturedir).resolve()) if spec.texturedir else str(source_dir)
    out_dir = Path(out_dir)
    xml_path = atomic_write_text(out_dir / "robot_aligned.xml", spec.to_xml())
    data = config.to_dict(robot)
    data.pop("source", None)
    ws = deployment.workspace
    data.update(mjcf=xml_path.name, workspace={"low": list(ws.low), "high": list(ws.high)},
                max_linear_speed=deployment.max_linear_speed,
                # the twin's rest pose must lie in the (possibly smaller) calibrated box
                home=[float(v) for v in np.clip(robot.home, ws.low, ws.high)])
    header = (f"# The twin aligned to the calibration in {deployment.source or 'a deployment file'}, written by "
              "'rigbot calibrate align'.\n# The camera in robot_aligned.xml has the calibrated intrinsics (region of "
              "interest) and pose.\n")
    path = atomic_write_text(out_dir / "robot.yaml", header + config.dump_yaml(data, sort_keys=False,
                                                                               default_flow_style=None))
    from rigbot.sim.robot import load_robot

    load_robot(path)  # it must load as the twin will load it
    return path


def alignment_panel(real: np.ndarray, twin: np.ndarray, before: np.ndarray | None = None,
                    height: int = 256) -> np.ndarray:
    """Camera frame, twin render and the twin's edges drawn over the camera frame, side by side.

    ``before``: the twin's render with its original camera, edges drawn over the frame the same way, first.
    """
    from rigbot import media

    def edges_on_real(render: np.ndarray) -> np.ndarray:
        if render.shape != real.shape:
            raise ValueError(f"the camera frame {real.shape} and the twin render {render.shape} differ in size")
        edges = cv2.Canny(cv2.cvtColor(render, cv2.COLOR_RGB2GRAY), 40, 120) > 0
        edges = cv2.dilate(edges.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
        overlay = (0.5 * real + 0.5 * render).astype(np.uint8)
        overlay[edges] = (255, 0, 255)
        return overlay

    images = [real, twin, edges_on_real(twin)]
    labels = ["camera (undistorted, cropped)", "twin, aligned camera", "aligned twin's edges on camera"]
    if before is not None:
        images.insert(0, edges_on_real(before))
        labels.insert(0, "twin's edges before alignment")
    return media.panel(images, labels, height=height)
