"""The safety gate node in its own process, driven over real DDS by a probe node in the test process."""
import signal
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import PoseStamped, TwistStamped  # noqa: E402
from std_msgs.msg import Bool, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from ros_helpers import NodeProcess, Probe, twist_linear  # noqa: E402
from rigbot_ros import conversions as conv  # noqa: E402
from rigbot_ros import topics  # noqa: E402

CENTRE = np.array([0.37, 0.0, 0.06])  # inside the built-in arm's workspace [0.22, 0.52] x [-0.18, 0.18] x [0.02, 0.25]


class GateDriver:
    def __init__(self, probe: Probe):
        self.probe = probe
        n = probe.node
        self.cmd = n.create_publisher(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self.pose = n.create_publisher(PoseStamped, topics.EE_POSE, topics.SENSOR)
        self.estop = n.create_publisher(Bool, topics.ESTOP, topics.EVENTS)
        self.out = probe.listen(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
        self.status = probe.listen(String, topics.GATE_STATUS, topics.EVENTS)
        self.hand = CENTRE.copy()
        self.sending: np.ndarray | None = None
        n.create_timer(0.02, self._tick)  # a robot's pose stream, and a policy's command stream when sending

    def _tick(self):
        now = self.probe.node.get_clock().now().to_msg()
        self.pose.publish(conv.pose(self.hand, now, "base_link"))
        if self.sending is not None:
            self.cmd.publish(conv.twist(self.sending, np.zeros(3), now, "base_link"))

    def send(self, linear, seconds: float = 0.3) -> np.ndarray:
        """Stream ``linear`` for a while; the newest gated output."""
        self.sending = np.asarray(linear, float)
        self.probe.spin(seconds)
        return twist_linear(self.out[-1][1])

    def stop_sending(self):
        self.sending = None


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    rclpy.init()
    log_dir = tmp_path_factory.mktemp("gate")
    proc = NodeProcess("safety_gate", log_dir, params={"publish_hz": 50.0, "command_timeout": 0.2})
    probe = Probe("gate_probe")
    driver = GateDriver(probe)
    try:
        probe.spin_until(lambda: len(driver.out) > 0, 30.0, "the gate's first output")
        yield proc, driver
    finally:
        proc.stop()
        probe.close()
        rclpy.shutdown()


def test_clamps_speed_and_passes_the_commands_stamp(gate):
    proc, d = gate
    out = d.send([1.0, -1.0, 0.05])
    np.testing.assert_allclose(out, [0.2, -0.2, 0.05])  # the arm's max_linear_speed: 0.2 m/s per axis
    assert d.out[-1][1].header.frame_id == "base_link"
    d.stop_sending()


def test_zero_within_timeout_when_commands_stop(gate):
    proc, d = gate
    assert np.any(d.send([0.1, 0.0, 0.0]))
    d.stop_sending()
    t_last = time.monotonic()
    d.probe.spin_until(lambda: not np.any(twist_linear(d.out[-1][1])), 1.0, "a zero after the commands stopped")
    assert d.out[-1][0] - t_last < 0.2 + 0.05  # timeout + one publish period + transport
    d.probe.spin(0.2)
    assert all(not np.any(twist_linear(m)) for t, m in d.out if t > d.out[-1][0] - 0.15)


def test_refuses_nan_and_inf(gate):
    proc, d = gate
    assert np.any(d.send([0.1, 0.0, 0.0], 0.2))
    out = d.send([np.nan, 0.1, 0.0], 0.2)
    assert not np.any(out)
    out = d.send([0.1, np.inf, 0.0], 0.2)
    assert not np.any(out)
    d.stop_sending()
    assert "non-finite" in proc.wait_log("refused a command", 5.0)


def test_keeps_the_hand_inside_the_workspace(gate):
    proc, d = gate
    d.hand = np.array([0.52, 0.0, 0.06])  # on the +x face
    out = d.send([0.15, 0.1, 0.0])
    assert out[0] <= 1e-9 and out[1] == pytest.approx(0.1)
    out = d.send([-0.15, 0.0, 0.0])
    assert out[0] == pytest.approx(-0.15)  # back inside is allowed
    d.hand = np.array([0.51, 0.0, 0.06])  # 1 cm inside: may move at most 1 cm per lookahead (0.1 s)
    out = d.send([0.2, 0.0, 0.0])
    assert out[0] == pytest.approx(0.1, abs=1e-6)
    d.hand = CENTRE.copy()
    d.stop_sending()


def test_estop_latches_until_released(gate):
    proc, d = gate
    assert np.any(d.send([0.1, 0.0, 0.0], 0.2))
    d.estop.publish(Bool(data=True))
    out = d.send([0.1, 0.0, 0.0], 0.5)
    assert not np.any(out)
    assert "estop" in [m.data for _, m in d.status]
    d.estop.publish(Bool(data=False))  # only the service releases it
    out = d.send([0.1, 0.0, 0.0], 0.4)
    assert not np.any(out)
    reply = d.probe.call(Trigger, "/safety_gate/release_estop")
    assert reply.success and "released" in reply.message
    out = d.send([0.1, 0.0, 0.0], 0.3)
    np.testing.assert_allclose(out, [0.1, 0, 0])
    reply = d.probe.call(Trigger, "/safety_gate/estop")  # the service engages it too
    assert reply.success
    out = d.send([0.1, 0.0, 0.0], 0.3)
    assert not np.any(out)
    d.probe.call(Trigger, "/safety_gate/release_estop")
    d.stop_sending()
    assert "EMERGENCY STOP" in proc.log()


def test_no_pose_no_motion(gate):
    proc, d = gate
    d.hand = np.array([np.nan, 0.0, 0.0])  # a broken pose stream: the workspace cannot be enforced
    out = d.send([0.1, 0.0, 0.0], 0.4)
    assert not np.any(out)
    d.hand = CENTRE.copy()
    d.stop_sending()


def test_zeroes_the_arm_on_shutdown(gate, tmp_path):
    _, d = gate
    proc = NodeProcess("safety_gate", tmp_path, node_name="safety_gate_2",
                       remaps={topics.ARM_COMMAND: "/second_gate/out"})
    out = d.probe.listen(TwistStamped, "/second_gate/out", topics.COMMAND)
    d.sending = np.array([0.1, 0.0, 0.0])
    d.probe.spin_until(lambda: out and np.any(twist_linear(out[-1][1])), 30.0, "the second gate passing commands")
    assert proc.stop(signal.SIGTERM) == 0
    d.probe.spin(0.3)
    d.stop_sending()
    assert not np.any(twist_linear(out[-1][1])), "the last command the arm got must be zero"
    assert "sent zero velocity" in proc.log()


def test_the_angular_limit_is_the_deployment_files_unless_a_parameter_lowers_it(gate, tmp_path):
    """The gate once passed its max_angular_speed parameter (then 0.5 by default) over any deployment file's
    limit, loosening a file's 0.3 rad/s; now 0 keeps the file's, and a value above it stops the gate at start."""
    from rigbot.calibration.deployment import DeploymentConfig, save_deployment

    _, d = gate
    path = save_deployment(DeploymentConfig(max_angular_speed=0.3), tmp_path / "deployment.yaml")
    proc = NodeProcess("safety_gate", tmp_path, node_name="safety_gate_file", params={"limits_file": str(path)},
                       remaps={topics.ARM_COMMAND: "/file_gate/out"})
    out = d.probe.listen(TwistStamped, "/file_gate/out", topics.COMMAND)
    turn = d.probe.node.create_publisher(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
    try:
        d.probe.spin_until(lambda: len(out) > 0, 30.0, "the gate with a deployment file")
        for _ in range(10):
            turn.publish(conv.twist([0.0, 0.0, 0.0], [1.0, -1.0, 0.1], d.probe.node.get_clock().now().to_msg(),
                                    "base_link"))
            d.probe.spin(0.03)
        a = out[-1][1].twist.angular
        np.testing.assert_allclose([a.x, a.y, a.z], [0.3, -0.3, 0.1])
    finally:
        proc.stop()
    looser = NodeProcess("safety_gate", tmp_path, node_name="safety_gate_looser",
                         params={"limits_file": str(path), "max_angular_speed": 0.5})
    assert looser.proc.wait(30) == 2
    assert "max_angular_speed: 0.5 rad/s is above the file's 0.3 rad/s" in looser.log()
