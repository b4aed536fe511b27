"""Calibration against ground truth rendered in the MuJoCo twin: a board with a known pose, seen by a camera with
known intrinsics and pose. Intrinsics, camera pose, hand-eye and twin alignment must recover the truth; missing,
partial and blurred boards, mismatched poses and too little data must give clear errors."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from rigbot import media
from rigbot.calibration.board_detection import BoardNotFound, detect_board
from rigbot.calibration.board_pose import board_pose, locate_camera
from rigbot.calibration.boards import Chessboard, CharucoBoard, make_board
from rigbot.calibration.camera_info import CameraIntrinsics, load_camera_info, save_camera_info
from rigbot.calibration.deployment import Box, CameraPose, load_deployment, preprocess_config, update_deployment
from rigbot.calibration.hand_eye import calibrate_eye_to_hand
from rigbot.calibration.intrinsics import CalibrationError, calibrate_intrinsics
from rigbot.calibration.park_martin import solve_ax_xb
from rigbot.calibration.pose_files import read_hand_poses, read_positions
from rigbot.calibration.region_of_interest import workspace_roi
from rigbot.calibration.transforms import invert, matrix_to_quaternion, pose_error, transform
from rigbot.calibration.twin_alignment import alignment_panel, set_camera, write_aligned_robot
from rigbot.calibration.twin_board import add_board, body_pose, camera_pose
from rigbot.calibration.workspace import workspace_from_positions
from rigbot.cli import main
from rigbot.config import ConfigError
from rigbot.perception.preprocessing import preprocess
from rigbot.sim.cartesian_control import CartesianVelocityController
from rigbot.sim.rendering import CameraRenderer, mujoco
from rigbot.sim.robot import load_robot, load_spec

W, H = 640, 480
FOVY = 45.0
CHESSBOARD = Chessboard(9, 6, 0.03)
HAND_BOARD = Chessboard(7, 4, 0.02)  # small enough to ride on the twin's hand
CAMERA_TURN = ([0.2, 0.3, 1.0], 12)  # axis, degrees: the bench camera looks down, turned and tilted a little
BOARD_ON_WRIST = (0.12, 0.0, -0.10)  # in front of the hand, printed face up


def axis_angle_quat_wxyz(axis, degrees) -> list[float]:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    half = np.radians(degrees) / 2
    return [np.cos(half), *(np.sin(half) * axis)]


@dataclass
class Bench:
    """A camera with known intrinsics and pose, and a board on a mocap body to pose anywhere."""

    model: "mujoco.MjModel"
    data: "mujoco.MjData"
    renderer: "mujoco.Renderer"
    T_body_board: np.ndarray
    T_world_cam: np.ndarray
    truth: CameraIntrinsics

    def shot(self, pos, quat_wxyz) -> tuple[np.ndarray, np.ndarray]:
        """(RGB image, T_world_board) with the board at this pose."""
        self.data.mocap_pos[0], self.data.mocap_quat[0] = pos, quat_wxyz
        mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, "cam")
        return self.renderer.render(), body_pose(self.model, self.data, "calibration_board") @ self.T_body_board

    def views(self, n: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Views of the board tilted 20 to 40 degrees about random axes at different distances."""
        rng = np.random.default_rng(seed)
        out = []
        for k in range(n):
            axis = rng.normal(size=3)
            axis[2] *= 0.3
            image, T = self.shot([rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), rng.uniform(-0.1, 0.15)],
                                 axis_angle_quat_wxyz(axis, rng.uniform(20, 40)))
            out.append((f"view_{k}.png", image, T))
        return out


def make_bench(board) -> Bench:
    spec = mujoco.MjSpec()
    spec.visual.global_.offwidth, spec.visual.global_.offheight = W, H
    T_body_board = add_board(spec, board)
    spec.worldbody.add_camera(name="cam", pos=[0.02, -0.03, 0.72], fovy=FOVY,
                              quat=axis_angle_quat_wxyz(*CAMERA_TURN))
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    renderer = mujoco.Renderer(model, H, W)
    return Bench(model, data, renderer, T_body_board, camera_pose(model, data, "cam"),
                 CameraIntrinsics.from_fovy(FOVY, W, H))


@pytest.fixture(scope="module")
def bench():
    b = make_bench(CHESSBOARD)
    yield b
    b.renderer.close()


@pytest.fixture(scope="module")
def views(bench):
    return bench.views(10, seed=0)


@pytest.fixture(scope="module")
def calibrated(views):
    return calibrate_intrinsics([(name, image) for name, image, _ in views], CHESSBOARD)


# ---- the board in an image ------------------------------------------------------------------------------------
def test_rendered_board_corners_match_the_known_geometry(bench):
    """The ground truth itself: corners found in a render lie where the known pose and intrinsics project them."""
    image, T_world_board = bench.shot([0.03, 0.02, 0.05], axis_angle_quat_wxyz([1, 0.5, 0], 25))
    view = detect_board(image, CHESSBOARD)
    T_cam_board = invert(bench.T_world_cam) @ T_world_board
    pts = (T_cam_board[:3, :3] @ view.object_points.T).T + T_cam_board[:3, 3]
    assert np.abs(bench.truth.project(pts) - view.image_points).max() < 0.3


def test_corner_order_follows_the_board_not_the_image(bench):
    """Turned by 180 degrees, the board's origin is still the corner beside its black corner square."""
    for turn in (0, 90, 180, 270):
        image, T_world_board = bench.shot([0.0, 0.0, 0.05], axis_angle_quat_wxyz([0, 0, 1], turn))
        pose = board_pose(detect_board(image, CHESSBOARD), bench.truth, CHESSBOARD)
        dt, dr = pose_error(pose.T_cam_board, invert(bench.T_world_cam) @ T_world_board)
        assert dt < 0.003 and dr < 0.5, f"turned {turn} deg: off by {dt * 1000:.1f} mm, {dr:.2f} deg"


def test_missing_partial_and_blurred_boards_are_refused_with_the_reason(bench):
    blank = np.full((H, W, 3), 90, np.uint8)
    with pytest.raises(BoardNotFound, match="no complete 9x6 chessboard found: no board in view"):
        detect_board(blank, CHESSBOARD)
    partial, _ = bench.shot([0.30, 0.0, 0.0], [1, 0, 0, 0])  # a third of it beyond the image's right edge
    with pytest.raises(BoardNotFound, match="only part of the board is in view"):
        detect_board(partial, CHESSBOARD)
    sharp, _ = bench.shot([0.0, 0.0, 0.05], axis_angle_quat_wxyz([1, 0, 0], 20))
    assert detect_board(sharp, CHESSBOARD).edge_width_px < 2.5
    with pytest.raises(BoardNotFound, match="blurred"):
        detect_board(cv2.GaussianBlur(sharp, (0, 0), 2.5), CHESSBOARD)
    with pytest.raises(BoardNotFound, match="not an 8-bit"):
        detect_board(sharp.astype(np.float32), CHESSBOARD)


def test_board_arguments_are_checked():
    assert make_board("9x6", 0.025).describe().startswith("9x6 chessboard")
    with pytest.raises(ValueError, match="metres, not millimetres"):
        make_board("9x6", 25)
    with pytest.raises(ValueError, match="COLUMNSxROWS"):
        make_board("nine by six", 0.025)
    with pytest.raises(ValueError, match="name one board"):
        make_board(None, 0.025)
    with pytest.raises(ValueError, match="ambiguous"):
        board_pose(None, None, Chessboard(8, 6, 0.025))  # symmetric: its pose could be turned by 180 degrees


# ---- intrinsics ------------------------------------------------------------------------------------------------
def test_intrinsics_recover_focal_lengths_and_principal_point(calibrated, bench):
    cam, truth = calibrated.camera, bench.truth
    assert abs(cam.fx / truth.fx - 1) < 0.01 and abs(cam.fy / truth.fy - 1) < 0.01, calibrated.report()
    assert abs(cam.cx - truth.cx) < 3 and abs(cam.cy - truth.cy) < 3
    assert np.abs(cam.D).max() < 0.05
    assert calibrated.rms_px < 0.3 and len(calibrated.per_image_px) == 10 and not calibrated.skipped
    assert all(0 < e < 0.5 for e in calibrated.per_image_px.values())


def test_camera_pose_from_a_board_at_a_known_place(calibrated, bench):
    """With the calibrated intrinsics, one view of a board whose pose is known places the camera."""
    for pos, quat in (([0.0, 0.0, 0.0], [1, 0, 0, 0]), ([0.04, -0.02, 0.1], axis_angle_quat_wxyz([1, 1, 0], 30))):
        image, T_world_board = bench.shot(pos, quat)
        T_world_cam = locate_camera(detect_board(image, CHESSBOARD), calibrated.camera, CHESSBOARD, T_world_board)
        dt, dr = pose_error(T_world_cam, bench.T_world_cam)
        assert dt < 0.005 and dr < 0.5, f"camera pose off by {dt * 1000:.1f} mm, {dr:.2f} deg"


def test_bad_images_are_named_skipped_and_do_not_spoil_the_result(views, bench):
    sharp = views[0][1]
    partial, _ = bench.shot([0.30, 0.0, 0.0], [1, 0, 0, 0])
    bad = [("empty.png", np.full((H, W, 3), 200, np.uint8)), ("partial.png", partial),
           ("blurred.png", cv2.GaussianBlur(sharp, (0, 0), 2.5)), ("small.png", cv2.resize(sharp, (320, 240)))]
    result = calibrate_intrinsics([(n, im) for n, im, _ in views[:7]] + bad, CHESSBOARD)
    assert set(result.skipped) == {"empty.png", "partial.png", "blurred.png", "small.png"}
    assert "no board in view" in result.skipped["empty.png"]
    assert "only part of the board" in result.skipped["partial.png"]
    assert "blurred" in result.skipped["blurred.png"]
    assert "320 x 240" in result.skipped["small.png"]
    assert abs(result.camera.fx / bench.truth.fx - 1) < 0.01
    assert "skipped  blurred.png: blurred" in result.report()


def test_too_few_usable_images_is_an_error_that_lists_them(views):
    images = [(n, im) for n, im, _ in views[:3]] + [("empty.png", np.zeros((H, W, 3), np.uint8))]
    with pytest.raises(CalibrationError, match=r"only 3 usable view\(s\)[\s\S]*empty.png: no complete"):
        calibrate_intrinsics(images, CHESSBOARD)


def test_views_that_cannot_pin_down_the_focal_length_are_refused(bench):
    """Boards all facing the camera squarely: focal length and distance trade off, so no answer is given.

    (OpenCV fits these with a focal length 30 times too long, a small error and a small uncertainty.)"""
    facing = axis_angle_quat_wxyz(*CAMERA_TURN)  # the board turned as the camera is: parallel to the image
    images = [(f"flat_{k}.png", bench.shot([dx, dy, 0.05], facing)[0])
              for k, (dx, dy) in enumerate([(-0.08, -0.05), (0.08, -0.05), (-0.08, 0.05), (0.08, 0.05), (0, 0),
                                            (0.04, 0.0)])]
    with pytest.raises(CalibrationError, match="focal length is not determined: only 0 of 6 views show the board tilted"):
        calibrate_intrinsics(images, CHESSBOARD)


def test_camera_info_yaml_has_ros_layout_and_round_trips(calibrated, tmp_path):
    path = save_camera_info(calibrated.camera, tmp_path / "camera_info.yaml", comment="test")
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["image_width", "image_height", "camera_name", "camera_matrix", "distortion_model",
                          "distortion_coefficients", "rectification_matrix", "projection_matrix"]
    assert data["camera_matrix"]["rows"] == 3 and len(data["camera_matrix"]["data"]) == 9
    assert data["projection_matrix"]["cols"] == 4 and data["distortion_model"] == "plumb_bob"
    loaded = load_camera_info(path)
    assert np.allclose(loaded.K, calibrated.camera.K) and np.allclose(loaded.D, calibrated.camera.D)
    assert (loaded.width, loaded.height) == (W, H)

    good_matrix = data["camera_matrix"]["data"]
    data["camera_matrix"]["data"] = good_matrix[:8]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"bad.yaml: camera_matrix: expected \(3, 3\)"):
        load_camera_info(tmp_path / "bad.yaml")
    data["camera_matrix"]["data"] = good_matrix
    del data["distortion_model"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="distortion_model: required key is missing"):
        load_camera_info(tmp_path / "bad.yaml")


def test_crop_and_resize_keep_the_projection():
    cam = CameraIntrinsics(W, H, np.array([[600.0, 0, 310.0], [0, 610.0, 250.0], [0, 0, 1]]))
    point = np.array([[0.05, -0.03, 0.8]])
    u, v = cam.project(point)[0]
    small = cam.cropped((100, 40, 400, 400)).resized(48, 48)
    u2, v2 = small.project(point)[0]
    # cv2.resize maps pixel centre u in the crop to (u + 0.5) * scale - 0.5
    assert np.allclose([u2, v2], [(u - 100 + 0.5) * 48 / 400 - 0.5, (v - 40 + 0.5) * 48 / 400 - 0.5])
    with pytest.raises(ValueError, match="does not fit"):
        cam.cropped((400, 0, 400, 400))


@pytest.mark.skipif(not hasattr(cv2, "aruco"), reason="this OpenCV has no aruco module")
def test_charuco_intrinsics_and_pose_with_partial_views():
    board = CharucoBoard(7, 5, 0.04, 0.03, "DICT_5X5_100")
    b = make_bench(board)
    try:
        views = b.views(8, seed=1)
        partial, _ = b.shot([0.22, 0.0, 0.0], [1, 0, 0, 0])
        result = calibrate_intrinsics([(n, im) for n, im, _ in views] + [("partial.png", partial)], board)
        assert abs(result.camera.fx / b.truth.fx - 1) < 0.01 and abs(result.camera.fy / b.truth.fy - 1) < 0.01
        assert "partial.png" in result.per_image_px  # ChArUco corners are named: part of a board is still usable
        name, image, T_world_board = views[2]
        T_world_cam = locate_camera(detect_board(image, board), result.camera, board, T_world_board)
        dt, dr = pose_error(T_world_cam, b.T_world_cam)
        assert dt < 0.005 and dr < 0.5
        with pytest.raises(BoardNotFound, match="only part of the board|no ChArUco corners"):
            detect_board(b.shot([0.40, 0.0, 0.0], [1, 0, 0, 0])[0], board)
    finally:
        b.renderer.close()


# ---- hand-eye ----------------------------------------------------------------------------------------------------
def test_park_martin_solves_exact_motions():
    rng = np.random.default_rng(3)

    def random_pose():
        R, _ = cv2.Rodrigues(rng.normal(size=3))
        return transform(R, rng.normal(size=3))

    X = random_pose()
    A = [random_pose() for _ in range(4)]
    B = [invert(X) @ a @ X for a in A]
    dt, dr = pose_error(solve_ax_xb(A, B), X)
    assert dt < 1e-9 and dr < 1e-6
    if hasattr(cv2, "calibrateHandEye"):  # OpenCV 4.x: the same answer through its eye-to-hand convention
        Y = random_pose()  # board on the hand
        hands = [random_pose() for _ in range(5)]
        boards = [invert(X) @ E @ Y for E in hands]  # T_cam_board = X^-1 E Y
        base2hand = [invert(E) for E in hands]
        R, t = cv2.calibrateHandEye([T[:3, :3] for T in base2hand], [T[:3, 3] for T in base2hand],
                                    [C[:3, :3] for C in boards], [C[:3, 3] for C in boards],
                                    method=cv2.CALIB_HAND_EYE_PARK)
        dt, dr = pose_error(transform(R, t), X)
        assert dt < 1e-6 and dr < 1e-4


@dataclass
class ArmScene:
    robot: object
    model: "mujoco.MjModel"
    data: "mujoco.MjData"
    renderer: "mujoco.Renderer"
    q0: np.ndarray
    T_wrist_board: np.ndarray

    def shot(self, dq_deg) -> tuple[np.ndarray, np.ndarray]:
        """(RGB image, T_base_hand) with the joints moved by ``dq_deg`` from the start pose."""
        joints = [self.model.joint(n).qposadr[0] for n in self.robot.joints]
        self.data.qpos[joints] = self.q0 + np.radians(dq_deg)
        mujoco.mj_forward(self.model, self.data)
        site = self.model.site(self.robot.end_effector_site).id
        self.renderer.update_scene(self.data, self.robot.camera)
        return self.renderer.render(), transform(self.data.site_xmat[site].reshape(3, 3), self.data.site_xpos[site])


def arm_scene(robot=None, camera: CameraIntrinsics | None = None, T_world_cam=None) -> ArmScene:
    """The twin's arm with a board on its hand; optionally with another camera (the 'real' one)."""
    robot = robot or load_robot()
    spec = load_spec(robot)
    spec.visual.global_.offwidth, spec.visual.global_.offheight = W, H
    if camera is not None:
        set_camera(spec.camera(robot.camera), camera, T_world_cam)
    T_wrist_board = add_board(spec, HAND_BOARD, body=spec.body("wrist"), pos=BOARD_ON_WRIST)
    model = spec.compile()
    data = mujoco.MjData(model)
    controller = CartesianVelocityController(model, robot)
    controller.place(data, np.array([0.33, 0.0, 0.12]))
    mujoco.mj_forward(model, data)
    renderer = mujoco.Renderer(model, H, W)
    for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
        renderer.scene.flags[flag] = 0
    return ArmScene(robot, model, data, renderer, controller.joint_positions(data).copy(), T_wrist_board)


@pytest.fixture(scope="module")
def arm():
    scene = arm_scene()
    yield scene
    scene.renderer.close()


def hand_eye_samples(arm: ArmScene, n: int = 10, seed: int = 1):
    """Base yaw, shoulder, elbow and wrist moved at random: the hand turns about two axes and moves."""
    rng = np.random.default_rng(seed)
    return [(f"pose_{k}.png", *arm.shot([rng.uniform(-20, 20), rng.uniform(-8, 8), rng.uniform(-8, 8),
                                         rng.uniform(-25, 25)])) for k in range(n)]


def test_hand_eye_recovers_the_camera_pose(arm):
    samples = hand_eye_samples(arm)
    truth = camera_pose(arm.model, arm.data, arm.robot.camera)
    cam = CameraIntrinsics.from_fovy(arm.model.cam_fovy[arm.model.camera(arm.robot.camera).id], W, H)
    result = calibrate_eye_to_hand([(n, T, im) for n, im, T in samples], cam, HAND_BOARD)
    dt, dr = pose_error(result.T_base_cam, truth)
    assert dt < 0.005 and dr < 0.5, f"off by {dt * 1000:.1f} mm, {dr:.2f} deg\n{result.report()}"
    assert result.rms_translation_mm < 2 and result.rms_rotation_deg < 0.2 and result.rms_reprojection_px < 1
    assert len(result.residuals) == 10
    wrist = body_pose(arm.model, arm.data, "wrist")
    site = arm.model.site(arm.robot.end_effector_site).id
    T_hand_wrist = invert(transform(arm.data.site_xmat[site].reshape(3, 3), arm.data.site_xpos[site])) @ wrist
    dt, dr = pose_error(result.T_hand_board, T_hand_wrist @ arm.T_wrist_board)
    assert dt < 0.005 and dr < 0.5


def test_hand_eye_refuses_mismatched_poses_and_too_little_rotation(arm):
    samples = hand_eye_samples(arm, n=8, seed=2)
    cam = CameraIntrinsics.from_fovy(arm.model.cam_fovy[arm.model.camera(arm.robot.camera).id], W, H)
    poses = [T for _, _, T in samples]
    shuffled = poses[1:] + poses[:1]  # every image paired with the next pose
    with pytest.raises(CalibrationError, match="do not agree on one camera pose"):
        calibrate_eye_to_hand([(n, T, im) for (n, im, _), T in zip(samples, shuffled)], cam, HAND_BOARD)
    yaw_only = [(f"yaw_{k}.png", *arm.shot([yaw, 0, 0, 0])) for k, yaw in enumerate([-15, -8, 0, 8, 15])]
    with pytest.raises(CalibrationError, match="two different axes"):
        calibrate_eye_to_hand([(n, T, im) for n, im, T in yaw_only], cam, HAND_BOARD)
    few = [(n, T, im) for n, im, T in samples[:3]] + [("empty.png", poses[0], np.zeros((H, W, 3), np.uint8))]
    with pytest.raises(CalibrationError, match=r"only 3 usable[\s\S]*empty.png"):
        calibrate_eye_to_hand(few, cam, HAND_BOARD)


# ---- pose files, workspace, deployment ---------------------------------------------------------------------------
def test_pose_files_read_csv_yaml_and_npz_and_refuse_bad_units(tmp_path):
    rows = [[0.2, -0.1, 0.05], [0.5, 0.2, 0.3], [0.35, 0.0, 0.1]]
    with (tmp_path / "echo.csv").open("w", newline="") as f:  # ROS-style column names
        w = csv.writer(f)
        w.writerow(["header.stamp.sec", "pose.position.x", "pose.position.y", "pose.position.z"])
        w.writerows([[0, *r] for r in rows])
    assert np.allclose(read_positions(tmp_path / "echo.csv"), rows)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"poses": rows}))
    assert np.allclose(read_positions(tmp_path / "p.yaml"), rows)
    np.savez(tmp_path / "p.npz", positions=np.array(rows))
    assert np.allclose(read_positions(tmp_path / "p.npz"), rows)
    (tmp_path / "mm.yaml").write_text(yaml.safe_dump([[200, -100, 50]]))
    with pytest.raises(ConfigError, match="millimetres"):
        read_positions(tmp_path / "mm.yaml")
    (tmp_path / "wxyz.csv").write_text("image,x,y,z,qx,qy,qz,qw\na.png,0.3,0,0.1,1,0,0,1\n")
    with pytest.raises(ConfigError, match=r"pose 0: quaternion .* not of unit length"):
        read_hand_poses(tmp_path / "wxyz.csv")


def test_workspace_box_from_recorded_positions_with_margin():
    rng = np.random.default_rng(0)
    positions = rng.uniform([0.2, -0.2, 0.03], [0.5, 0.2, 0.3], size=(40, 3))
    box = workspace_from_positions(positions, margin=0.02)
    assert np.allclose(box.low, positions.min(0) + 0.02) and np.allclose(box.high, positions.max(0) - 0.02)
    flat = positions.copy()
    flat[:, 2] = 0.1
    with pytest.raises(CalibrationError, match="span only 0 mm in z"):
        workspace_from_positions(flat)


def test_one_deployment_file_feeds_the_safety_gate_the_preprocessing_and_the_twin(tmp_path, calibrated):
    path = tmp_path / "deployment.yaml"
    save_camera_info(calibrated.camera, tmp_path / "camera_info.yaml")
    update_deployment(path, camera_info="camera_info.yaml", roi=(80, 0, 480, 480),
                      workspace={"low": [0.25, -0.15, 0.03], "high": [0.5, 0.15, 0.2]}, max_linear_speed=0.1,
                      max_angular_speed=0.3, camera_pose=CameraPose((0.8, -0.4, 0.7), (0.0, 0.0, 0.0, 1.0)))
    dep = load_deployment(path)
    assert dep.load_camera_info().width == W
    assert preprocess_config(dep, 48).roi == (80, 0, 480, 480)

    from rigbot.control.safety_gate import limits_from_robot_yaml  # the gate's own reader
    limits = limits_from_robot_yaml(path)
    assert tuple(limits.workspace_low) == (0.25, -0.15, 0.03) and limits.max_linear_speed == 0.1
    assert limits.max_angular_speed == 0.3

    text = path.read_text().replace("max_linear_speed: 0.1", "max_linear_speed: 7")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"deployment.yaml: max_linear_speed: 7(\.0)? is out of range"):
        load_deployment(path)
    update_deployment(tmp_path / "d2.yaml", roi=(0, 0, 10, 10))
    with pytest.raises(ConfigError, match="roi"):
        update_deployment(tmp_path / "d2.yaml", roi=(0, 0, 0, 10))


def test_region_of_interest_holds_the_whole_workspace(arm):
    cam = CameraIntrinsics.from_fovy(arm.model.cam_fovy[arm.model.camera(arm.robot.camera).id], W, H)
    T = camera_pose(arm.model, arm.data, arm.robot.camera)
    box = Box((0.25, -0.12, 0.03), (0.45, 0.12, 0.15))
    (x, y, w, h), in_view = workspace_roi(cam, T, box)
    assert in_view and w == h and 0 <= x and x + w <= W and 0 <= y and y + h <= H
    uv = cam.project((invert(T) @ np.hstack([box.corners(), np.ones((8, 1))]).T).T[:, :3])
    assert np.all(uv >= [x, y]) and np.all(uv <= [x + w, y + h])


# ---- twin alignment ------------------------------------------------------------------------------------------------
def test_twin_camera_aligned_to_a_different_real_camera_sees_the_same_image(tmp_path):
    """A 'real' camera with fx != fy, an off-centre principal point and another pose than the twin's: after
    alignment, the twin's square render equals the real frame's preprocessed crop, to a fraction of a pixel."""
    robot = load_robot()
    nominal = arm_scene(robot)
    T_nominal = camera_pose(nominal.model, nominal.data, robot.camera)
    nominal.renderer.close()
    R_tilt, _ = cv2.Rodrigues(np.radians(3) * np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8]))
    T_real = transform(R_tilt @ T_nominal[:3, :3], T_nominal[:3, 3] + [0.03, -0.02, 0.015])
    real_cam = CameraIntrinsics(W, H, np.array([[870.0, 0, 331.0], [0, 890.0, 226.0], [0, 0, 1]]))
    real = arm_scene(robot, real_cam, T_real)
    frame, _ = real.shot([10, 0, 0, 0])
    real.renderer.close()

    roi, size = (250, 20, 300, 300), 256
    save_camera_info(real_cam, tmp_path / "camera_info.yaml")
    dep = update_deployment(tmp_path / "deployment.yaml", camera_info="camera_info.yaml", roi=roi,
                            camera_pose=CameraPose.from_matrix(T_real))
    twin_robot = load_robot(write_aligned_robot(dep, tmp_path / "twin"))
    assert twin_robot.workspace.low == dep.workspace.low

    def twin_render(robot_cfg):
        spec = load_spec(robot_cfg)
        add_board(spec, HAND_BOARD, body=spec.body("wrist"), pos=BOARD_ON_WRIST)
        model = spec.compile()
        data = mujoco.MjData(model)
        CartesianVelocityController(model, robot_cfg).place(data, np.array([0.33, 0.0, 0.12]))
        joints = [model.joint(n).qposadr[0] for n in robot_cfg.joints]
        data.qpos[joints[0]] += np.radians(10)
        mujoco.mj_forward(model, data)
        renderer = CameraRenderer(model, size, robot_cfg.camera)
        try:
            return renderer.render(data)
        finally:
            renderer.close()

    twin = twin_render(twin_robot)
    seen = preprocess(real_cam.undistort(frame), preprocess_config(dep, size))
    offsets = detect_board(twin, HAND_BOARD).image_points - detect_board(seen, HAND_BOARD).image_points
    assert np.abs(offsets).max() < 0.5, f"corners differ by up to {np.abs(offsets).max():.2f} px"
    before = twin_render(robot)  # the twin's own camera: clearly another picture
    difference = lambda a, b: float(np.mean(np.abs(a.astype(float) - b)))  # noqa: E731
    assert difference(twin, seen) < 3 and difference(before, seen) > 4 * difference(twin, seen)
    png = media.write_png(tmp_path / "alignment.png", alignment_panel(seen, twin, before))
    assert media.read_image(png).shape[1] > 4 * 256


# ---- the command line, end to end -----------------------------------------------------------------------------------
def test_calibrate_cli_capture_intrinsics_handeye_workspace_align(tmp_path, views, arm, capsys):
    shots = tmp_path / "camera"  # a folder of frames stands in for a camera (opencv:FOLDER)
    for k, (name, image, _) in enumerate(views):
        media.write_png(shots / f"frame_{2 * k:03d}.png", image)
        media.write_png(shots / f"frame_{2 * k + 1:03d}.png", np.full((H, W, 3), 120, np.uint8))
    board_args = ["--chessboard", "9x6", "--square", "0.03"]
    assert main(["calibrate", "capture", "--camera", f"opencv:{shots}", "--out", str(tmp_path / "intr"),
                 "--count", "50", "--min-move", "5", *board_args]) == 0
    out = capsys.readouterr().out
    assert len(list((tmp_path / "intr").glob("board_*.png"))) == 10, out
    assert "10 frame(s) not kept: no complete 9x6 chessboard found" in out

    dep = tmp_path / "calib" / "deployment.yaml"
    assert main(["calibrate", "intrinsics", str(tmp_path / "intr"), *board_args, "--out",
                 str(tmp_path / "calib" / "camera_info.yaml"), "--deployment", str(dep)]) == 0
    assert "reprojection error" in capsys.readouterr().out
    assert load_deployment(dep).camera_info == "camera_info.yaml"

    he = tmp_path / "handeye"
    he.mkdir()
    with (he / "poses.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x", "y", "z", "qx", "qy", "qz", "qw"])
        for name, image, T in hand_eye_samples(arm, n=8, seed=4):
            media.write_png(he / name, image)
            w.writerow([name, *T[:3, 3], *matrix_to_quaternion(T[:3, :3])])
    # the arm's camera is not the bench camera: hand-eye takes its own intrinsics
    cam = CameraIntrinsics.from_fovy(arm.model.cam_fovy[arm.model.camera(arm.robot.camera).id], W, H)
    save_camera_info(cam, tmp_path / "arm_camera.yaml")
    assert main(["calibrate", "handeye", "--poses", str(he / "poses.csv"), "--chessboard", "7x4", "--square", "0.02",
                 "--camera-info", str(tmp_path / "arm_camera.yaml"), "--deployment", str(dep),
                 "--out", str(tmp_path / "handeye.yaml")]) == 0
    T = load_deployment(dep).T_base_cam()
    dt, dr = pose_error(T, camera_pose(arm.model, arm.data, arm.robot.camera))
    assert dt < 0.005 and dr < 0.5
    assert "residuals_rms" in yaml.safe_load((tmp_path / "handeye.yaml").read_text())

    (tmp_path / "corners.csv").write_text("x,y,z\n0.22,-0.16,0.03\n0.5,0.16,0.03\n0.5,-0.16,0.22\n0.22,0.16,0.22\n")
    update_deployment(dep, camera_info=str(tmp_path / "arm_camera.yaml"))
    assert main(["calibrate", "workspace", "--deployment", str(dep), "--poses", str(tmp_path / "corners.csv"),
                 "--margin", "0.01", "--roi", "auto", "--max-linear-speed", "0.15"]) == 0
    d = load_deployment(dep)
    assert d.workspace.low == pytest.approx((0.23, -0.15, 0.04)) and d.max_linear_speed == 0.15 and d.roi

    frame, _ = arm.shot([0, 0, 0, 0])
    media.write_png(tmp_path / "frame.png", frame)
    assert main(["calibrate", "align", "--deployment", str(dep), "--frame", str(tmp_path / "frame.png"),
                 "--out", str(tmp_path / "twin"), "--hand", "0.33,0,0.12", "--size", "128"]) == 0
    assert (tmp_path / "twin" / "alignment.png").is_file() and (tmp_path / "twin" / "robot.yaml").is_file()

    assert main(["calibrate", "board", *board_args, "--dpi", "40", "--out", str(tmp_path / "board.png")]) == 0
    assert len(detect_board(media.read_image(tmp_path / "board.png"), CHESSBOARD).image_points) == 54

    capsys.readouterr()
    assert main(["calibrate", "intrinsics", str(shots / "frame_001.png"), *board_args]) == 2
    assert "only 0 usable view(s)" in capsys.readouterr().err


# ---- bad and hostile input (issue 14) -------------------------------------------------------------------------------
RIGBOT = str(Path(sys.executable).parent / "rigbot")


def rigbot_cli(*args: str) -> subprocess.CompletedProcess:
    """The installed command line, in its own process, as a user runs it."""
    return subprocess.run([RIGBOT, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def handeye_with_a_bad_pose(arm, tmp_path_factory):
    """Hand-eye images and poses where one pose is 5 cm off, a camera_info, and a deployment that already holds a
    camera pose: a check that is switched off would overwrite it with a camera pose centimetres wrong."""
    folder = tmp_path_factory.mktemp("handeye_bad")
    with (folder / "poses.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x", "y", "z", "qx", "qy", "qz", "qw"])
        for k, (name, image, T) in enumerate(hand_eye_samples(arm, n=8, seed=4)):
            media.write_png(folder / name, image)
            position = T[:3, 3] + ([0.05, 0.0, 0.0] if k == 3 else 0.0)
            w.writerow([name, *position, *matrix_to_quaternion(T[:3, :3])])
    cam = CameraIntrinsics.from_fovy(arm.model.cam_fovy[arm.model.camera(arm.robot.camera).id], W, H)
    save_camera_info(cam, folder / "camera.yaml")
    update_deployment(folder / "deployment.yaml", camera_pose=CameraPose((0.8, -0.4, 0.7), (0.0, 0.0, 0.0, 1.0)))
    return folder


def handeye_args(folder, *thresholds) -> list[str]:
    return ["calibrate", "handeye", "--poses", str(folder / "poses.csv"), "--chessboard", "7x4", "--square", "0.02",
            "--camera-info", str(folder / "camera.yaml"), "--deployment", str(folder / "deployment.yaml"), *thresholds]


def test_hand_eye_refuses_a_pose_5_cm_off_with_the_default_thresholds(handeye_with_a_bad_pose, capsys):
    before = (handeye_with_a_bad_pose / "deployment.yaml").read_text()
    assert main(handeye_args(handeye_with_a_bad_pose)) == 2
    assert "do not agree on one camera pose" in capsys.readouterr().err
    assert (handeye_with_a_bad_pose / "deployment.yaml").read_text() == before


@pytest.mark.parametrize("flag, value", [("--max-residual-mm", "nan"), ("--max-residual-deg", "nan"),
                                         ("--max-residual-mm", "0")])
def test_hand_eye_thresholds_refuse_nan_and_zero_on_the_command_line(handeye_with_a_bad_pose, flag, value):
    """NaN compares False, so 'residual > nan' never refused: the 5 cm pose was written into the deployment.
    Zero divided by zero (ZeroDivisionError). The real command line must refuse both before doing anything."""
    before = (handeye_with_a_bad_pose / "deployment.yaml").read_text()
    proc = rigbot_cli(*handeye_args(handeye_with_a_bad_pose, flag, value))
    assert proc.returncode == 2 and flag in proc.stderr and "above zero" in proc.stderr, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert (handeye_with_a_bad_pose / "deployment.yaml").read_text() == before


@pytest.mark.parametrize("args", [
    ["handeye", "--poses", "p.csv", "--chessboard", "7x4", "--square", "0.02", "--max-residual-mm", "inf"],
    ["handeye", "--poses", "p.csv", "--chessboard", "7x4", "--square", "0.02", "--max-residual-deg", "-1"],
    ["handeye", "--poses", "p.csv", "--chessboard", "7x4", "--square", "nan"],
    ["intrinsics", "imgs", "--chessboard", "9x6", "--square", "0.03", "--max-rms", "nan"],
    ["intrinsics", "imgs", "--chessboard", "9x6", "--square", "0.03", "--min-views", "0"],
    ["capture", "--camera", "opencv:0", "--out", "x", "--chessboard", "9x6", "--square", "0.03", "--min-move", "nan"],
    ["workspace", "--deployment", "d.yaml", "--margin", "nan"],
    ["workspace", "--deployment", "d.yaml", "--margin", "-0.01"],
    ["workspace", "--deployment", "d.yaml", "--max-linear-speed", "nan"],
    ["workspace", "--deployment", "d.yaml", "--max-angular-speed", "inf"],
    ["align", "--deployment", "d.yaml", "--size", "0"],
])
def test_every_threshold_argument_refuses_nan_inf_and_non_positive(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", *args])
    assert exit_.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_library_thresholds_refuse_nan_and_non_positive(views):
    cam = CameraIntrinsics.from_fovy(FOVY, W, H)
    for kwargs in ({"max_translation_mm": float("nan")}, {"max_rotation_deg": float("nan")},
                   {"max_translation_mm": 0.0}, {"max_rotation_deg": float("inf")}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            calibrate_eye_to_hand([], cam, HAND_BOARD, **kwargs)
    for kwargs in ({"max_rms_px": float("nan")}, {"max_focal_uncertainty": float("nan")}, {"max_rms_px": -1.0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            calibrate_intrinsics([(n, im) for n, im, _ in views[:6]], CHESSBOARD, **kwargs)
    for margin in (float("nan"), -0.01):
        with pytest.raises(CalibrationError, match="margin"):
            workspace_from_positions(np.array([[0.2, -0.1, 0.05], [0.5, 0.1, 0.2]]), margin)
    with pytest.raises(CalibrationError, match="finite"):
        workspace_from_positions(np.array([[0.2, -0.1, 0.05], [0.5, np.nan, 0.2]]), 0.01)


@pytest.mark.parametrize("corners, named, bound, why", [
    # beyond any box rigbot accepts: the pose file is refused before a box is made of it
    ("x,y,z\n-4.9,-4.9,-4.9\n4.9,4.9,4.9\n", "corners.csv", "pose 0", "more than 3 m from the base"),
    ("x,y,z\n0.22,-0.16,-0.5\n0.5,0.16,0.22\n", "deployment.yaml", "workspace.low[2]",
     "below the robot's workspace (low z 0.02 m in"),
    ("x,y,z\n0.22,-0.16,0.03\n0.9,0.16,0.22\n", "deployment.yaml", "workspace.high[0]",
     "above the robot's workspace (high x 0.52 m"),
])
def test_workspace_outside_the_robot_description_is_not_written(tmp_path, corners, named, bound, why, capsys):
    """Corners at +-4.9 m, or 0.5 m below the base, became the safety gate's box."""
    dep = tmp_path / "deployment.yaml"
    (tmp_path / "corners.csv").write_text(corners)
    assert main(["calibrate", "workspace", "--deployment", str(dep), "--poses", str(tmp_path / "corners.csv"),
                 "--margin", "0.01"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / named) in err and bound in err and why in err, err
    assert named == "corners.csv" or "set 'robot:' to your arm's description" in err, err  # names no robot
    assert not dep.exists()


def test_deployment_bounds_are_checked_against_the_robot_when_loaded(tmp_path):
    """A deployment edited by hand (or written before this check): the loader and the gate both refuse it."""
    from rigbot.control.safety_gate import limits_from_robot_yaml

    path = tmp_path / "deployment.yaml"
    update_deployment(path, workspace={"low": [0.25, -0.15, 0.03], "high": [0.5, 0.15, 0.2]})
    good = path.read_text()
    path.write_text(good.replace("low: [0.25, -0.15, 0.03]", "low: [0.25, -0.15, -0.5]"))
    for read in (load_deployment, limits_from_robot_yaml):
        with pytest.raises(ConfigError, match=rf"{path}: workspace.low\[2\]: -0.5 .*robot"):
            read(path)
    path.write_text(good.replace("max_linear_speed: 0.2", "max_linear_speed: 0.5"))
    for read in (load_deployment, limits_from_robot_yaml):
        with pytest.raises(ConfigError, match=rf"{path}: max_linear_speed: 0.5 .*robot"):
            read(path)
    with pytest.raises(ConfigError, match="max_linear_speed"):
        limits_from_robot_yaml(tmp_path / "deployment.yaml", max_linear_speed=0.9)
    # a deployment may name its own robot description, whose box then bounds it
    big = tmp_path / "big_robot.yaml"
    robot_text = (Path(__file__).parent / "assets" / "gantry.yaml").read_text()
    big.write_text(robot_text.replace("mjcf: gantry.xml", f"mjcf: {Path(__file__).parent / 'assets' / 'gantry.xml'}"))
    path.write_text(good.replace("robot: null", "robot: big_robot.yaml"))
    with pytest.raises(ConfigError, match=r"workspace.low\[0\]: 0.25 .*big_robot.yaml"):
        load_deployment(path)
    update_deployment(path, workspace={"low": [0.35, -0.05, 0.5], "high": [0.6, 0.2, 0.6]})
    assert limits_from_robot_yaml(path).workspace_low == (0.35, -0.05, 0.5)


def test_region_of_interest_must_lie_inside_the_image(tmp_path, capsys):
    dep = tmp_path / "deployment.yaml"
    save_camera_info(CameraIntrinsics.from_fovy(FOVY, W, H), tmp_path / "camera_info.yaml")
    update_deployment(dep, camera_info="camera_info.yaml")
    before = dep.read_text()
    for roi, why in (("0,0,100000,100000", "roi[2]: 100000 is out of range"), ("600,0,100,100", "640 x 480"),
                     ("0,400,100,100", "does not fit the calibrated 640 x 480 image"), ("0,0,640,481", "640 x 480")):
        assert main(["calibrate", "workspace", "--deployment", str(dep), "--roi", roi]) == 2
        err = capsys.readouterr().err
        assert str(dep) in err and why in err, err
        assert dep.read_text() == before
    assert main(["calibrate", "workspace", "--deployment", str(dep), "--roi", "100,0,480,480"]) == 0
    # without intrinsics the image size is unknown: only a sane pixel range; the check comes when they are recorded
    other = tmp_path / "other.yaml"
    with pytest.raises(ConfigError, match="roi"):
        update_deployment(other, roi=(0, 0, 100000, 100000))
    update_deployment(other, roi=(0, 0, 1000, 1000))
    with pytest.raises(ConfigError, match=r"roi: \[0, 0, 1000, 1000\] does not fit the calibrated 640 x 480"):
        update_deployment(other, camera_info=str(tmp_path / "camera_info.yaml"))


def test_region_of_interest_of_a_non_finite_pose_is_a_calibration_error():
    cam = CameraIntrinsics.from_fovy(FOVY, W, H)
    T = transform(np.eye(3), [0.3, 0.0, np.nan])
    with pytest.raises(CalibrationError, match="finite"):
        workspace_roi(cam, T, Box((0.25, -0.12, 0.03), (0.45, 0.12, 0.15)))


CAMERA_INFO = ("image_width: 640\nimage_height: 480\ndistortion_model: plumb_bob\ncamera_name: cam\n"
               "camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, 1]}\n"
               "distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n")


@pytest.mark.parametrize("old, new, problem", [
    ("camera_matrix: {rows: 3, cols: 3", "camera_matrix: {rows: [3], cols: [3]", "camera_matrix.rows"),
    ("{rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}", "{rows: -1, cols: -5, data: [0, 0, 0, 0, 0]}",
     "distortion_coefficients.rows"),
    ("{rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}", "{rows: 1, cols: 100000, data: [" + ", ".join(["0"] * 100000) + "]}",
     "distortion_coefficients.cols"),
    ("image_width: 640", "image_width: 1000000000", "image_width"),
    ("image_width: 640", "image_width: [" + ", ".join(["640"] * 5000) + "]", "image_width"),
    ("distortion_model: plumb_bob", "distortion_model: {a: 1}", "distortion_model"),
    ("camera_name: cam", "camera_name: [1, 2]", "camera_name"),
])
def test_camera_info_reader_refuses_odd_values_with_a_short_message(tmp_path, old, new, problem):
    assert old in CAMERA_INFO
    path = tmp_path / "camera_info.yaml"
    path.write_text(CAMERA_INFO.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_camera_info(path)
    message = str(err.value)
    assert str(path) in message and problem in message and len(message) < 600, message[:1000]


@pytest.mark.parametrize("name, content, problem", [
    ("poses.csv", bytes(range(128, 256)) * 4, "not UTF-8 text"),
    ("poses.csv", b"x,y,z\n\"" + b"a" * 200_000 + b"\n", "poses.csv"),
    ("poses.yaml", b"- {image: [1, 2], position: [0.3, 0, 0.1], orientation: [0, 0, 0, 1]}\n", "image"),
    ("poses.yaml", b"- {image: a.png, position: [0.3, 0, 0.1], orientation: {a: 1}}\n", "pose 0"),
    ("poses.npz", b"PK\x03\x04garbage", "not a readable .npz"),
    ("poses.npz", b"\x93NUMPY\x01\x00garbage", "not a readable .npz"),
])
def test_pose_files_that_are_not_what_they_say_give_a_config_error(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    for read in (read_hand_poses,) if b"orientation: {" in content else (read_positions, read_hand_poses):
        with pytest.raises(ConfigError) as err:
            read(path)
        assert str(path) in str(err.value) and problem in str(err.value), str(err.value)


def test_pose_npz_with_pickled_or_oversized_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", positions=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ConfigError, match="obj.npz"):
        read_positions(tmp_path / "obj.npz")
    # a header that claims 10^12 positions over 48 bytes of data: refused before anything is allocated
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10 ** 12, 3)})
    with zipfile.ZipFile(tmp_path / "claims.npz", "w") as z:
        z.writestr("positions.npy", header.getvalue() + np.zeros(6).tobytes())
    with pytest.raises(ConfigError, match="claims.npz: positions"):
        read_positions(tmp_path / "claims.npz")


def test_image_sides_and_hand_positions_have_the_bounds_the_rest_of_rigbot_has(tmp_path):
    """An image side read_image refuses (over 8192 px) is refused in camera_info and a deployment's roi too; a hand
    pose beyond any workspace box rigbot accepts (3 m) is refused as a unit or frame mistake."""
    from rigbot import limits

    side = limits.MAX_IMAGE_SIDE_PX
    path = tmp_path / "camera_info.yaml"
    path.write_text(CAMERA_INFO.replace("image_width: 640", f"image_width: {side + 1}"))
    with pytest.raises(ConfigError, match=rf"camera_info.yaml: image_width: .* 1 to {side}, got {side + 1}"):
        load_camera_info(path)
    dep = tmp_path / "deployment.yaml"
    with pytest.raises(ConfigError, match=rf"roi\[2\]: {side + 1} is out of range"):
        update_deployment(dep, roi=(0, 0, side + 1, 100))
    assert not dep.exists()
    (tmp_path / "far.yaml").write_text(f"- [0.3, {limits.MAX_HAND_DISTANCE_M + 0.5}, 0.1]\n")
    with pytest.raises(ConfigError, match=rf"far.yaml: pose 0: .* more than {limits.MAX_HAND_DISTANCE_M:g} m"):
        read_positions(tmp_path / "far.yaml")


def test_written_calibration_files_keep_strings_that_look_like_numbers(tmp_path):
    """A camera named '1e5' or a base frame '2E3' is written quoted, so it reads back as the string it was."""
    cam = CameraIntrinsics.from_fovy(FOVY, W, H)
    path = save_camera_info(CameraIntrinsics(cam.width, cam.height, cam.K, cam.D, camera_name="1e5"),
                            tmp_path / "camera_info.yaml")
    assert load_camera_info(path).camera_name == "1e5"
    assert "[" in path.read_text()  # matrices still in flow style, as ROS writes them
    dep = tmp_path / "deployment.yaml"
    update_deployment(dep, base_frame="2E3")
    assert load_deployment(dep).base_frame == "2E3"
