"""The ROS-free core under the nodes: safety gate, latent control step, twist <-> action, picked goals, goal images."""
import numpy as np
import pytest

from rigbot.config import ConfigError
from rigbot.control.latent_control import LatentGoalController
from rigbot.control.safety_gate import SafetyGate, SafetyLimits, limits_from_robot_yaml
from rigbot.control.velocity_command import action_to_twist, twist_to_action
from rigbot.sim.robot import DEFAULT_ROBOT

Z = np.zeros(3)


@pytest.fixture
def gate():
    g = SafetyGate(limits_from_robot_yaml(DEFAULT_ROBOT))
    g.update_pose([0.37, 0.0, 0.06], 0.0)
    return g


def test_limits_come_from_the_robot_yaml(tmp_path):
    lim = limits_from_robot_yaml(DEFAULT_ROBOT)
    assert lim.workspace_low == (0.22, -0.18, 0.02) and lim.workspace_high == (0.52, 0.18, 0.25)
    assert lim.max_linear_speed == 0.2 and lim.command_timeout == 0.2
    bad = tmp_path / "bad.yaml"
    bad.write_text("workspace: {low: [0, 0, 0], high: [1, 1]}\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        limits_from_robot_yaml(bad)
    bad.write_text("max_linear_speed: 0.1\n")
    with pytest.raises(ConfigError, match="workspace"):
        limits_from_robot_yaml(bad)
    with pytest.raises(ConfigError, match="low x"):
        SafetyLimits(workspace_low=(1, 0, 0), workspace_high=(0, 1, 1))


def test_clamps_each_axis(gate):
    assert gate.command([0.5, -0.05, -3.0], [0, 0, 2.0], 0.0) is None
    out = gate.output(0.01)
    np.testing.assert_allclose(out.linear, [0.2, -0.05, -0.2])
    np.testing.assert_allclose(out.angular, [0, 0, 0.5])
    assert out.reason == "clamped"


def test_stale_command_gives_zero(gate):
    gate.command([0.1, 0, 0], Z, 0.0)
    gate.update_pose([0.37, 0.0, 0.06], 0.19)
    assert gate.output(0.19).reason == "ok"
    out = gate.output(0.21)
    assert out.is_zero and out.reason == "stale command"


def test_nan_and_inf_are_refused_and_stop_the_arm(gate):
    gate.command([0.1, 0, 0], Z, 0.0)
    assert "non-finite" in gate.command([np.nan, 0, 0], Z, 0.01)
    out = gate.output(0.02)
    assert out.is_zero and out.reason == "rejected"
    assert "non-finite" in gate.command([0, 0, 0], [0, np.inf, 0], 0.03)
    assert "3 linear" in gate.command([0, 0], Z, 0.04)


def test_estop_latches_until_released(gate):
    gate.command([0.1, 0, 0], Z, 0.0)
    gate.engage_estop("test")
    gate.command([0.1, 0, 0], Z, 0.05)
    assert gate.output(0.06).reason == "estop" and gate.output(0.06).is_zero
    assert gate.release_estop()
    assert gate.output(0.07).is_zero  # the command from before the release does not resume
    gate.command([0.1, 0, 0], Z, 0.08)
    assert not gate.output(0.09).is_zero
    assert not gate.release_estop()


def test_workspace_faces(gate):
    gate.update_pose([0.52, 0.18, 0.25], 0.0)  # the high corner
    gate.command([0.1, 0.1, 0.1], Z, 0.0)
    out = gate.output(0.0)
    np.testing.assert_allclose(out.linear, 0.0)
    assert out.reason == "workspace"
    gate.command([-0.1, -0.1, -0.1], Z, 0.0)
    np.testing.assert_allclose(gate.output(0.0).linear, [-0.1] * 3)
    gate.update_pose([0.60, 0.0, 0.06], 0.0)  # outside already: only inward motion
    gate.command([0.1, 0.0, 0.0], Z, 0.0)
    np.testing.assert_allclose(gate.output(0.0).linear, 0.0)
    gate.update_pose([0.50, 0.0, 0.06], 0.0)  # 2 cm from the face, lookahead 0.1 s: at most 0.2 m/s ... clamp
    gate.command([0.2, 0.0, 0.0], Z, 0.0)
    assert gate.output(0.0).linear[0] == pytest.approx(0.2)
    gate.update_pose([0.515, 0.0, 0.06], 0.0)
    assert gate.output(0.0).linear[0] == pytest.approx(0.05)


def test_needs_a_fresh_pose_to_enforce_the_workspace():
    g = SafetyGate(limits_from_robot_yaml(DEFAULT_ROBOT))
    g.command([0.1, 0, 0], Z, 0.0)
    assert g.output(0.0).reason == "no pose"
    g.update_pose([0.37, 0, 0.06], 0.0)
    g.command([0.1, 0, 0], Z, 0.3)
    assert g.output(0.3).reason == "stale pose"
    assert "finite" in g.update_pose([np.nan, 0, 0], 0.3)
    free = SafetyGate(limits_from_robot_yaml(DEFAULT_ROBOT, enforce_workspace=False))
    free.command([0.1, 0, 0], Z, 0.0)
    assert free.output(0.0).reason == "ok"


def test_shutdown_is_final(gate):
    gate.command([0.1, 0, 0], Z, 0.0)
    gate.shutdown()
    gate.command([0.1, 0, 0], Z, 0.0)
    assert gate.output(0.0).reason == "shut down" and gate.output(0.0).is_zero


def test_latent_controller_refuses_old_and_missing_data():
    c = LatentGoalController(lambda z, g: (g - z)[:2], latent_dim=4, max_age=0.2)
    assert c.step(0.0) == (None, "no goal yet")
    c.set_goal(np.ones(4))
    assert c.step(0.0) == (None, "no observation yet")
    c.observe(np.zeros(4), stamp=10.0)
    action, why = c.step(10.1)
    assert why == "ok" and np.allclose(action, [1, 1]) and c.acted_on == 10.0
    action, why = c.step(10.3)
    assert action is None and "300 ms old" in why
    with pytest.raises(ValueError, match="3 numbers"):
        c.observe(np.zeros(3), 10.3)
    with pytest.raises(ValueError, match="not finite"):
        c.set_goal([np.nan, 0, 0, 0])
    bad = LatentGoalController(lambda z, g: np.array([np.nan, 0.0]), 4, 0.2)
    bad.set_goal(np.ones(4))
    bad.observe(np.zeros(4), 0.0)
    assert bad.step(0.0)[0] is None


def test_action_and_twist_conversions():
    lin, ang = action_to_twist([0.1, -0.2])
    np.testing.assert_allclose(lin, [0.1, -0.2, 0]) and np.testing.assert_allclose(ang, 0)
    np.testing.assert_allclose(action_to_twist([0.1, 0.2, 0.3])[0], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(twist_to_action([0.1, 0.2, 0.3], 2), [0.1, 0.2])
    np.testing.assert_allclose(twist_to_action([0.1, 0.2, 0.3], 3), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        action_to_twist([1.0])
    with pytest.raises(ValueError):
        twist_to_action([0.1, 0.2], 2)


def test_limits_from_a_calibration_deployment_file(tmp_path):
    from rigbot.calibration.deployment import Box, DeploymentConfig, save_deployment

    path = save_deployment(DeploymentConfig(workspace=Box((0.3, -0.1, 0.05), (0.5, 0.1, 0.2)), max_linear_speed=0.1,
                                            max_angular_speed=0.3), tmp_path / "deployment.yaml")
    lim = limits_from_robot_yaml(path)
    assert lim.workspace_low == (0.3, -0.1, 0.05) and lim.workspace_high == (0.5, 0.1, 0.2)
    assert lim.max_linear_speed == 0.1 and lim.max_angular_speed == 0.3


def test_the_gate_reads_a_deployment_file_as_load_deployment_does(tmp_path):
    """Every check load_deployment makes holds for the gate too: a misspelt key, a roi outside the calibrated
    image, a box outside the robot's. (The gate read only workspace and speeds, and took such files.)"""
    from rigbot.calibration.camera_info import CameraIntrinsics, save_camera_info
    from rigbot.calibration.deployment import load_deployment, update_deployment

    path = tmp_path / "deployment.yaml"
    save_camera_info(CameraIntrinsics.from_fovy(45.0, 640, 480), tmp_path / "camera_info.yaml")
    update_deployment(path, camera_info="camera_info.yaml", roi=(80, 0, 480, 480), max_linear_speed=0.1,
                      workspace={"low": [0.25, -0.15, 0.03], "high": [0.5, 0.15, 0.2]})
    good = path.read_text()
    assert limits_from_robot_yaml(path).max_linear_speed == 0.1
    for old, new, problem in (("roi: [80, 0, 480, 480]", "roi: [400, 0, 480, 480]", "does not fit the calibrated"),
                              ("max_angular_speed:", "max_angualr_speed:", "max_angualr_speed: unknown key"),
                              ("base_frame: base_link", "base_frame: [1]", "base_frame")):
        assert old in good
        path.write_text(good.replace(old, new))
        for read in (load_deployment, limits_from_robot_yaml):
            with pytest.raises(ConfigError, match=problem) as err:
                read(path)
            assert str(path) in str(err.value)


def test_overrides_may_tighten_a_robot_files_bounds_but_not_widen_them(tmp_path):
    """The node's max_linear_speed parameter may lower the robot's speed; above it is refused, as it is for a
    deployment file."""
    assert limits_from_robot_yaml(DEFAULT_ROBOT, max_linear_speed=0.1).max_linear_speed == 0.1
    with pytest.raises(ConfigError, match=r"max_linear_speed: 0.9 m/s is above the robot's 0.2 m/s"):
        limits_from_robot_yaml(DEFAULT_ROBOT, max_linear_speed=0.9)
    with pytest.raises(ConfigError, match=r"workspace.high\[0\]: 0.9 m is above the robot's workspace"):
        limits_from_robot_yaml(DEFAULT_ROBOT, workspace_high=(0.9, 0.18, 0.25))
    bare = tmp_path / "bare.yaml"  # a file with no box: the gate will not make one up from defaults
    bare.write_text("max_linear_speed: 0.1\ncamera_info: null\n")
    with pytest.raises(ConfigError, match="bare.yaml: workspace"):
        limits_from_robot_yaml(bare)


def test_overrides_may_tighten_a_deployment_files_limits_but_never_lift_them(tmp_path):
    """A deployment's own speeds and box bound the overrides too, not just its robot's: the gate node's speed
    parameters once replaced the file's angular limit (0.3 here) with theirs (0.5 by default), loosening it."""
    from rigbot.calibration.deployment import Box, DeploymentConfig, save_deployment

    path = save_deployment(DeploymentConfig(workspace=Box((0.3, -0.1, 0.05), (0.5, 0.1, 0.2)), max_linear_speed=0.1,
                                            max_angular_speed=0.3), tmp_path / "deployment.yaml")
    tight = limits_from_robot_yaml(path, max_linear_speed=0.05, max_angular_speed=0.2)
    assert tight.max_linear_speed == 0.05 and tight.max_angular_speed == 0.2
    with pytest.raises(ConfigError, match=r"max_angular_speed: 0.5 rad/s is above the file's 0.3 rad/s"):
        limits_from_robot_yaml(path, max_angular_speed=0.5)
    with pytest.raises(ConfigError, match=r"max_linear_speed: 0.15 m/s is above the file's 0.1 m/s"):
        limits_from_robot_yaml(path, max_linear_speed=0.15)  # within the robot's 0.2 m/s, above the deployment's
    with pytest.raises(ConfigError, match=r"workspace.high\[0\]: 0.52 m is above the file's workspace"):
        limits_from_robot_yaml(path, workspace_high=(0.52, 0.1, 0.2))  # within the robot's box, not the file's
    # a robot description states no angular speed: the default is its limit, and it may not be lifted either
    assert limits_from_robot_yaml(DEFAULT_ROBOT, max_angular_speed=0.1).max_angular_speed == 0.1
    with pytest.raises(ConfigError, match=r"max_angular_speed: 2 rad/s is above the file's 0.5 rad/s"):
        limits_from_robot_yaml(DEFAULT_ROBOT, max_angular_speed=2.0)


def test_goal_checks_quote_odd_values_briefly_and_never_crash(tmp_path):
    """A 400-digit heldout_mse is a ConfigError (math.isfinite raised OverflowError on it); a huge goal name is
    quoted cut short."""
    from rigbot.perception.goal_images import GoalLibrary, heldout_error

    (tmp_path / "vae.yaml").write_text(f"info:\n  heldout_mse: {10 ** 400}\n")
    with pytest.raises(ConfigError, match=r"vae.yaml: info.heldout_mse: .* got <an integer of 1329 bits>") as err:
        heldout_error(tmp_path)
    assert len(str(err.value)) < 300
    with pytest.raises(ValueError, match=r"goal name 'xxxx") as err:
        GoalLibrary(tmp_path).path("x" * 100_000)
    assert len(str(err.value)) < 300
