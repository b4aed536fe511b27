"""The ROS-free core under the nodes: safety gate, latent control step, twist <-> action, picked goals, goal images."""
import numpy as np
import pytest

from rigbot.config import ConfigError
from rigbot.policy.latent_control import LatentGoalController
from rigbot.policy.safety_gate import SafetyGate, SafetyLimits, limits_from_robot_yaml
from rigbot.policy.velocity_command import action_to_twist, twist_to_action
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
