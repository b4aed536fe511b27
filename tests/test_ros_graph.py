"""The node graph as separate processes over real DDS: twin + encoder + goal + policy + safety gate.

The plumbing tests use a policy whose VAE is briefly trained and whose actor is not (made in under a minute;
cached in pytest's cache folder between local runs). Reaching a goal needs a trained policy: test_ros_reach.py.
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
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from ros_helpers import Graph, Probe, bench_module, goal_png, set_goal_cli, twist_linear  # noqa: E402
from rigbot import media  # noqa: E402
from rigbot_ros import conversions as conv  # noqa: E402
from rigbot_ros import topics  # noqa: E402


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="module")
def plumbing(ros, plumbing_checkpoint, tmp_path_factory):
    graph = Graph(plumbing_checkpoint, tmp_path_factory.mktemp("graph"), autostart=False)
    yield graph
    graph.stop()


def lifecycle(probe: Probe, transition: int) -> bool:
    return probe.call(ChangeState, "/policy/change_state",
                      ChangeState.Request(transition=Transition(id=transition))).success


def test_malformed_goal_images_are_refused_and_the_arm_stays_still(plumbing, tmp_path):
    g, p = plumbing, plumbing.probe
    assert p.call(GetState, "/policy/get_state").current_state.label == "unconfigured"
    assert lifecycle(p, Transition.TRANSITION_CONFIGURE)
    assert p.call(GetState, "/policy/get_state").current_state.label == "inactive"
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


def test_goal_from_the_cli_nothing_until_activated_then_estop_and_release(plumbing, tmp_path):
    g, p = plumbing, plumbing.probe
    result = set_goal_cli(goal_png(tmp_path / "goal.png", [0.42, 0.08]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "goal set from" in result.stdout
    p.spin_until(lambda: g.goal_images, 10, "the latched goal image")
    # a goal and fresh observations, but the policy is configured, not active: it sends nothing
    p.spin(1.5)
    assert not g.policy_out and all(not np.any(twist_linear(m)) for _, m in g.arm)
    assert lifecycle(p, Transition.TRANSITION_ACTIVATE)
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


def test_goal_from_the_camera_saved_and_listed(plumbing, tmp_path):
    g, p = plumbing, plumbing.probe
    n = len(g.goal_images)
    cli = [sys.executable, "-m", "rigbot.cli", "goal"]
    result = subprocess.run(cli + ["from-camera"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "new goal from the camera" in result.stdout, result.stdout + result.stderr
    p.spin_until(lambda: len(g.goal_images) > n, 10, "the camera frame as the latched goal")
    library = tmp_path / "goals"
    result = subprocess.run(cli + ["save", "here", "--library", str(library)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    saved = media.read_image(library / "here.png")
    assert np.array_equal(saved, conv.image_to_rgb(g.goal_images[-1][1]))
    result = subprocess.run(cli + ["list", "--library", str(library)], capture_output=True, text=True, timeout=60)
    assert "1 saved goal(s)" in result.stdout and "here" in result.stdout
    result = subprocess.run(cli + ["set", "nosuchgoal", "--library", str(library)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "no goal named 'nosuchgoal'" in result.stderr and "here" in result.stderr
    # the goal parameter, as `ros2 param set /goal goal FILE_OR_NAME` sets it
    n = len(g.goal_images)
    ok = set_parameter(p, "/goal", "goal", str(library / "here.png"))
    assert ok.successful, ok.reason
    p.spin_until(lambda: len(g.goal_images) > n, 10, "the goal from the parameter")
    refused = set_parameter(p, "/goal", "goal", "nosuchgoal")
    assert not refused.successful and "no goal named 'nosuchgoal'" in refused.reason


def set_parameter(probe, node: str, name: str, text: str):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=text)
    reply = probe.call(SetParameters, f"{node}/set_parameters",
                       SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
    return reply.results[0]


def test_rigbot_sim_runs_the_graph_in_one_process(plumbing_checkpoint, tmp_path):
    checkpoint = plumbing_checkpoint
    own_domain = dict(os.environ, ROS_DOMAIN_ID=str((int(os.environ["ROS_DOMAIN_ID"]) + 1) % 230))  # not the graph's
    result = subprocess.run([sys.executable, "-m", "rigbot.cli", "sim", "--checkpoint", str(checkpoint),
                             "--timeout", "3", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120,
                            env=own_domain)
    out = result.stdout
    assert "goal image from the twin" in out and "step" in out and "final distance to goal: hand" in out, \
        out + result.stderr
    assert result.returncode == 1 and "NOT reached" in out  # an untrained actor does not reach the goal
    assert (tmp_path / "sim_result.png").is_file()
    assert "shut down: sent zero velocity" in result.stderr
    missing = subprocess.run([sys.executable, "-m", "rigbot.cli", "sim", "--checkpoint", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=60, env=own_domain)
    assert missing.returncode == 2 and "no trained policy here" in missing.stderr


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


def test_episode_manager_publishes_resumed_after_pause_and_resume(ros, plumbing_checkpoint, tmp_path):
    """~/pause then ~/resume: the 'resumed' event reaches /rigbot/episode/status (it was once computed and
    dropped). The node runs on topics of its own, so the plumbing graph of this module never hears it."""
    from ros_helpers import NodeProcess

    own = {t: f"/episode_test{t}" for t in (topics.EE_POSE, topics.LATENT, topics.POLICY_COMMAND, topics.GOAL_SET,
                                              topics.GOAL_STATUS, topics.GATE_STATUS)}
    node = NodeProcess("episode_manager", tmp_path, remaps=own, params={
        "checkpoint": str(plumbing_checkpoint), "start_paused": False, "policy_node": "/episode_test_policy"})
    probe = Probe("episode_probe")
    events = probe.listen(DiagnosticStatus, topics.EPISODE_STATUS, topics.EVENTS)
    kinds = lambda: [{kv.key: kv.value for kv in m.values}["event"] for _, m in events]  # noqa: E731
    try:
        node.wait_log("starting", 60, probe)
        paused = probe.call(Trigger, "/episode_manager/pause", timeout=30)
        assert paused.success, paused.message
        probe.spin_until(lambda: "paused" in kinds(), 10, "the 'paused' event")
        resumed = probe.call(Trigger, "/episode_manager/resume")
        assert resumed.success and resumed.message == "resumed: resetting", resumed.message
        probe.spin_until(lambda: "resumed" in kinds(), 10, f"the 'resumed' event (events: {kinds()})")
        assert kinds() == ["paused", "resumed"]
        assert "resumed: resetting" in node.log()
    finally:
        node.stop()
        probe.close()


@pytest.mark.parametrize("task", ["reach", "push"])
def test_rigbot_sim_suggests_a_train_command_that_rigbot_accepts(task, tmp_path):
    """The command `rigbot sim --checkpoint DIR` suggests for a folder without a policy parses as it reads, with
    the real `rigbot` parser: the task and the folder it names (a space in it included)."""
    import shlex

    from rigbot.cli import build_parser
    from rigbot.cli.train import cmd_train
    from rigbot_ros.embedded import ensure_checkpoint

    missing = tmp_path / "no policy"
    with pytest.raises(FileNotFoundError) as e:
        ensure_checkpoint(task, missing, seed=0)
    suggested = str(e.value).split("train one with: ")[-1]
    words = shlex.split(suggested)
    assert words[:2] == ["rigbot", "train"], suggested
    args = build_parser().parse_args(words[1:])  # a wrong suggestion exits here (argparse: status 2)
    assert args.func is cmd_train and args.task == task and args.out == str(missing), suggested


def test_the_ros_latency_bench_reports_a_refused_goal_and_sends_one_the_vae_accepts(plumbing, plumbing_checkpoint):
    """Against the real goal node (its VAE briefly trained, so its goal check is on): a goal unlike the workspace is
    reported as a refusal with the goal node's reason, not as a graph that never answered (as the bench's grey goal
    once was, on a trained VAE: test_training.py); the bench's own goal, a rendered twin goal image, is accepted.
    The refused goal is black: this barely trained VAE draws about the mean image, which grey is close to."""
    bench = bench_module("bench_ros_latency")
    probe = (plumbing.probe.node, plumbing.probe.executor)
    with pytest.raises(bench.GoalRefused, match="refused the bench's goal image: .*does not look like the workspace"):
        bench.set_goal(probe, np.zeros((480, 640, 3), np.uint8), timeout=30)
    accepted = bench.set_goal(probe, bench.twin_goal_image(plumbing_checkpoint), timeout=30)
    assert "refused" not in accepted, accepted
