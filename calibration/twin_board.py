"""A calibration board in the MuJoCo twin: a thin textured box whose board frame is known exactly.

Rendered views of it give calibration images with ground truth (tests, and trying the tools without hardware).
MuJoCo draws a 2-D texture on a box's top face (+z) as an image seen from above: image x along the box's +x,
image y along its -y. So the board frame (x along columns, y along rows, z into the board) is the box frame
turned by 180 degrees about x, moved to the pattern's origin on the top face.
"""
from __future__ import annotations

import numpy as np

from rigbot.calibration.boards import Board
from rigbot.calibration.transforms import quaternion_to_matrix, transform
from rigbot.sim.rendering import mujoco

THICKNESS = 0.004  # metres: a board on stiff backing


def add_board(spec: "mujoco.MjSpec", board: Board, body: "mujoco.MjsBody | None" = None, name: str = "calibration_board",
              pos=(0.0, 0.0, 0.0), quat_wxyz=(1.0, 0.0, 0.0, 0.0), square_px: int = 48) -> np.ndarray:
    """Add ``board`` as a box geom to ``body`` (default: a new mocap body, moved with ``data.mocap_pos/quat``).

    ``pos``/``quat_wxyz`` place the box (its printed face is its +z face) in the body. Returns ``T_body_board``,
    the board frame in the body's frame. The picture is lit by its own emission, so shading does not move corners.
    """
    picture = board.image(square_px)
    h_px, w_px = picture.pixels.shape
    rgb = np.repeat(picture.pixels[..., None], 3, axis=2)
    texture = spec.add_texture(name=f"{name}_texture", type=mujoco.mjtTexture.mjTEXTURE_2D, width=w_px, height=h_px,
                               nchannel=3)
    texture.data = rgb.tobytes()
    material = spec.add_material(name=f"{name}_material", rgba=[1, 1, 1, 1], emission=1.0, specular=0.0,
                                 shininess=0.0, reflectance=0.0)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = texture.name
    metres_per_px = board.square / picture.square_px
    half = np.array([w_px * metres_per_px / 2, h_px * metres_per_px / 2, THICKNESS / 2])
    if body is None:
        body = spec.worldbody.add_body(name=name, mocap=True)
    body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=half, pos=list(pos), quat=list(quat_wxyz),
                  material=material.name, contype=0, conaffinity=0)
    ox, oy = picture.origin_px
    T_geom_board = transform(np.diag([1.0, -1.0, -1.0]),
                             [ox * metres_per_px - half[0], half[1] - oy * metres_per_px, half[2]])
    w, x, y, z = quat_wxyz
    T_body_geom = transform(quaternion_to_matrix(np.array([x, y, z, w]) / np.linalg.norm(quat_wxyz)), pos)
    return T_body_geom @ T_geom_board


def body_pose(model: "mujoco.MjModel", data: "mujoco.MjData", body: str) -> np.ndarray:
    """A body's pose in the world frame (after mj_forward) as a 4 x 4 transform."""
    i = model.body(body).id
    return transform(data.xmat[i].reshape(3, 3), data.xpos[i])


def camera_pose(model: "mujoco.MjModel", data: "mujoco.MjData", camera: str) -> np.ndarray:
    """A MuJoCo camera's optical frame (x right, y down, z forward) in the world frame, as a 4 x 4 transform."""
    from rigbot.calibration.transforms import MUJOCO_FROM_OPTICAL

    i = model.camera(camera).id
    return transform(data.cam_xmat[i].reshape(3, 3) @ MUJOCO_FROM_OPTICAL, data.cam_xpos[i])
