"""The node graph as separate processes over real DDS: twin + encoder + goal + policy + safety gate.

The plumbing tests use a policy whose VAE is briefly trained and whose actor is not (made in a minute; cached
in pytest's cache folder between local runs). Reaching a goal needs a trained policy: test_reaches_a_goal_image
uses $RIGBOT_TEST_REACH_CHECKPOINT or checkpoints/reach.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import PoseStamped, TwistStamped  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from ros_helpers import NodeProcess, Probe, make_plumbing_checkpoint, trained_reach_checkpoint, twist_linear  # noqa
from rigbot import media  # noqa: E402
from rigbot_ros import conversions as conv  # noqa: E402
from rigbot_ros import topics  # noqa: E402


def goal_png(path, target) -> str:
    """The twin's reach scene with the hand at ``target`` (x, y), as a PNG file, as a user would have it."""
    import rigbot.sim as sim

    env = sim.make("reach")
    env.reset(seed=0)
    image = env.unwrapped.render_goal(np.asarray(target, float))
    env.close()
    return str(media.write_png(path, image))


def set_goal_cli(image: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rigbot.cli", "goal", "set", image, "--timeout", "20"],
                          capture_output=True, text=True, timeout=timeout)


class Graph:
    def __init__(self, checkpoint, log_dir, autostart: bool):
        ck = {"checkpoint": str(checkpoint)}
        self.nodes = {
            "twin": NodeProcess("twin", log_dir, params={"task": "reach"}),
            "encoder": NodeProcess("encoder", log_dir, params=ck),
            "goal": NodeProcess("goal", log_dir, params=ck),
            "policy": NodeProcess("policy", log_dir, params={**ck, "autostart": autostart}),
            "safety_gate": NodeProcess("safety_gate", log_dir),
        }
        self.probe = Probe("graph_probe")
        p = self.probe
        self.poses = p.listen(PoseStamped, topics.EE_POSE, topics.SENSOR)
        self.policy_out = p.listen(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
        self.arm = p.listen(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
        self.status = p.listen(DiagnosticStatus, topics.GOAL_STATUS, topics.EVENTS)
        self.goal_images = p.listen(Image, topics.GOAL_IMAGE, topics.LATCHED)
        self.latents = p.listen(Image, topics.LATENT, topics.SENSOR)
        p.spin_until(lambda: len(self.poses) > 5 and self.arm and self.latents, 90, "the graph running")
        p.call(GetState, "/policy/get_state", timeout=60)  # the policy node is up

    def hand(self) -> np.ndarray:
        return conv.position(self.poses[-1][1])

    def stop(self):
        for n in self.nodes.values():
            n.stop()
        self.probe.close()


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="module")
def plumbing(ros, request, tmp_path_factory):
    checkpoint = make_plumbing_checkpoint(request.config.cache.mkdir("rigbot_plumbing_checkpoint_v1"))
    graph = Graph(checkpoint, tmp_path_factory.mktemp("graph"), autostart=False)
    yield graph
    graph.stop()


def lifecycle(probe: Probe, transition: int) -> bool:
    return probe.call(ChangeState, "/policy/change_state",
                      ChangeState.Request(transition=Transition(id=transition))).success


def test_policy_sends_nothing_until_activated_and_refuses_malformed_goals(plumbing, tmp_path):
    g, p = plumbing, plumbing.probe
    assert p.call(GetState, "/policy/get_state").current_state.label == "unconfigured"
    assert lifecycle(p, Transition.TRANSITION_CONFIGURE)
    assert lifecycle(p, Transition.TRANSITION_ACTIVATE)
    start = g.hand()
    # malformed goal images: each refused with a reason, no goal ever published, the arm never moves
    send = p.node.create_publisher(Image, topics.GOAL_SET, topics.EVENTS)
    p.spin_until(lambda: send.get_subscription_count() > 0, 10, "the goal node subscribing")
    wrong_encoding = conv.rgb_to_image(np.zeros((48, 48, 3), np.uint8), 0.0, "cam")
    wrong_encoding.encoding = "16UC1"
    wrong_size = conv.rgb_to_image(np.zeros((48, 48, 3), np.uint8), 0.0, "cam")
    wrong_size.width = 64  # says 64 wide, rows of 48
    truncated = conv.rgb_to_image(np.zeros((48, 48, 3), np.uint8), 0.0, "cam")
    truncated.data = bytes(truncated.data)[:3000]
    empty = Image(encoding="rgb8")
    garbage = conv.rgb_to_image(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8), 0.0, "cam")
    tiny = conv.rgb_to_image(np.zeros((4, 4, 3), np.uint8), 0.0, "cam")
    expected = {"16UC1": wrong_encoding, "step 144 is less than": wrong_size, "has 3000 bytes": truncated,
                "empty": empty,
                "does not look like the workspace": garbage, "too small": tiny}
    for reason, msg in expected.items():
        msg.header.stamp = p.node.get_clock().now().to_msg()
        send.publish(msg)
        log = g.nodes["goal"].wait_log(reason, 15, p)
        assert "refused" in log
    p.spin(1.5)
    errors = [m for _, m in g.status if m.level == DiagnosticStatus.ERROR]
    assert errors and "refused" in errors[-1].message
    assert not g.goal_images, "a malformed image became the goal"
    assert not g.policy_out, "the policy acted without a goal"
    assert all(not np.any(twist_linear(m)) for _, m in g.arm), "the gate let motion through"
    np.testing.assert_allclose(g.hand(), start, atol=1e-3)


def test_goal_from_the_cli_then_estop_and_release(plumbing, tmp_path):
    g, p = plumbing, plumbing.probe
    result = set_goal_cli(goal_png(tmp_path / "goal.png", [0.42, 0.08]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "goal set from" in result.stdout
    p.spin_until(lambda: g.goal_images, 10, "the latched goal image")
    p.spin_until(lambda: g.policy_out and np.any(twist_linear(g.arm[-1][1])), 15, "the policy moving the arm")
    acted = g.policy_out[-1][1]
    assert acted.header.frame_id == "base_link"
    assert np.all(np.abs(twist_linear(acted)) <= 0.2 + 1e-6)
    # stamped with its camera image's time: a little in the past, never in the future
    age = time.time() - conv.to_seconds(acted.header.stamp)
    assert 0.0 < age < 2.0, age
    # e-stop: zero until released, while the policy keeps sending
    estop = p.node.create_publisher(Bool, topics.ESTOP, topics.EVENTS)
    p.spin_until(lambda: estop.get_subscription_count() > 0, 10, "the gate subscribing to the e-stop")
    estop.publish(Bool(data=True))
    p.spin(0.5)
    t_stop, n_policy = time.monotonic(), len(g.policy_out)
    held = g.hand()
    p.spin(1.5)
    assert len(g.policy_out) > n_policy, "the policy stopped sending: the test would prove nothing"
    assert all(not np.any(twist_linear(m)) for t, m in g.arm if t > t_stop)
    np.testing.assert_allclose(g.hand(), held, atol=2e-3)
    assert p.call(Trigger, "/safety_gate/release_estop").success
    p.spin_until(lambda: np.any(twist_linear(g.arm[-1][1])), 5, "motion after the release")


def test_policy_never_acts_on_an_old_observation(plumbing):
    g, p = plumbing, plumbing.probe
    twin = g.nodes["twin"]
    os.kill(twin.pid, signal.SIGSTOP)  # no new camera images, so no new latents
    try:
        p.spin(0.5)
        n = len(g.policy_out)
        pub = p.node.create_publisher(Image, topics.LATENT, topics.SENSOR)
        z = conv.image_to_latent(g.latents[-1][1])
        old = time.time() - 1.0  # max_age is 0.2 s
        for _ in range(5):
            pub.publish(conv.latent_to_image(z, old, "cam"))
            p.spin(0.15)
        assert len(g.policy_out) == n, "the policy acted on a 1 s old observation"
        assert "ms old" in g.nodes["policy"].wait_log("not acting", 5, p)
        for _ in range(5):
            pub.publish(conv.latent_to_image(z, time.time(), "cam"))
            p.spin(0.15)
        assert len(g.policy_out) > n, "the policy did not act on a fresh observation"
    finally:
        os.kill(twin.pid, signal.SIGCONT)


def test_killed_policy_means_zero_within_the_timeout(plumbing):
    g, p = plumbing, plumbing.probe
    p.spin_until(lambda: np.any(twist_linear(g.arm[-1][1])), 10, "the arm moving")
    g.nodes["policy"].stop(signal.SIGKILL)
    p.spin(1.0)
    last_policy = g.policy_out[-1][0]
    deadline = last_policy + 0.2 + 0.05  # the gate's timeout, one publish period (20 ms) and transport
    after = [m for t, m in g.arm if t > deadline]
    assert len(after) > 10 and all(not np.any(twist_linear(m)) for m in after), \
        "the gate still let motion through 0.25 s after the policy died"
    held = g.hand()
    p.spin(0.5)
    np.testing.assert_allclose(g.hand(), held, atol=1e-3)


def test_reaches_a_goal_image(ros, tmp_path):
    checkpoint = trained_reach_checkpoint()
    if checkpoint is None:
        pytest.skip("needs a trained reach policy: set RIGBOT_TEST_REACH_CHECKPOINT or train checkpoints/reach "
                    "(rigbot train reach)")
    graph = Graph(checkpoint, tmp_path, autostart=True)
    try:
        target = np.array([0.42, -0.08])
        result = set_goal_cli(goal_png(tmp_path / "goal.png", target))
        assert result.returncode == 0, result.stdout + result.stderr
        p = graph.probe
        end = time.monotonic() + 20
        close_for = 0
        while time.monotonic() < end and close_for < 10:
            p.spin(0.1)
            close_for = close_for + 1 if np.linalg.norm(graph.hand()[:2] - target) < 0.05 else 0
        distance = np.linalg.norm(graph.hand()[:2] - target)
        assert distance < 0.05, f"the hand ended {distance * 100:.1f} cm from the goal"
    finally:
        graph.stop()
