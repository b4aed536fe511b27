"""Encoder, twin and camera nodes, each in its own process, over real DDS."""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import PointStamped, PoseStamped, TwistStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from ros_helpers import NodeProcess, Probe  # noqa: E402
from rigbot import media  # noqa: E402
from rigbot.perception.latent_prior import LatentPrior  # noqa: E402
from rigbot.perception.preprocessing import PreprocessConfig, preprocess  # noqa: E402
from rigbot.perception.vae import ConvVAE, VAEConfig, load_checkpoint, save_checkpoint  # noqa: E402
from rigbot_ros import conversions as conv  # noqa: E402
from rigbot_ros import topics  # noqa: E402


@pytest.fixture(scope="module")
def probe():
    rclpy.init()
    p = Probe("nodes_probe")
    yield p
    p.close()
    rclpy.shutdown()


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    """An (untrained) VAE checkpoint with a non-trivial preprocessing: crop, then resize to 48."""
    import torch

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("vae")
    save_checkpoint(d, ConvVAE(VAEConfig(latent_dim=8)), LatentPrior.standard(8),
                    PreprocessConfig(size=48, roi=(10, 4, 96, 90)))
    return d


def test_encoder_feeds_the_encoder_exactly_what_preprocess_gives(probe, vae_dir, tmp_path):
    node = NodeProcess("encoder", tmp_path, params={"checkpoint": str(vae_dir), "publish_model_input": True})
    try:
        pub = probe.node.create_publisher(Image, topics.IMAGE, topics.SENSOR)
        inputs = probe.listen(Image, topics.MODEL_INPUT, topics.SENSOR)
        latents = probe.listen(Image, topics.LATENT, topics.SENSOR)
        encoder = load_checkpoint(vae_dir)
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
        frame[20:60, 30:90] = (200, 40, 10)  # some structure, so crop and resize errors would show
        node.wait_log("encoder: latent 8")
        for encoding in ("rgb8", "bgr8"):
            del inputs[:], latents[:]
            msg = conv.rgb_to_image(frame, probe.node.get_clock().now().to_msg(), "cam")
            if encoding == "bgr8":
                msg.encoding, msg.data = "bgr8", np.ascontiguousarray(frame[..., ::-1]).tobytes()
            probe.spin_until(lambda: pub.get_subscription_count() > 0, 10, "the encoder subscribing")
            sent = set()
            mine = lambda box: [m for _, m in box if (m.header.stamp.sec, m.header.stamp.nanosec) in sent]  # noqa
            deadline = time.monotonic() + 10
            while not (mine(inputs) and mine(latents)) and time.monotonic() < deadline:  # best effort: resend
                msg.header.stamp = probe.node.get_clock().now().to_msg()  # fresh, or the encoder drops it as old
                sent.add((msg.header.stamp.sec, msg.header.stamp.nanosec))
                pub.publish(msg)
                probe.spin(0.2)
            assert mine(inputs) and mine(latents), f"{encoding}: no output stamped as its frame:\n{node.log()}"
            expected = preprocess(frame, encoder.preprocess)
            got = mine(inputs)[0]
            assert (got.height, got.width, got.encoding) == (48, 48, "rgb8")
            assert bytes(got.data) == expected.tobytes(), f"{encoding}: model input differs from preprocess()"
            latent = mine(latents)[0]
            assert latent.header.frame_id == "cam"
            np.testing.assert_allclose(conv.image_to_latent(latent), encoder.encode(expected)[0], rtol=1e-5,
                                       atol=1e-6)
        # refused input: a clear error, nothing published
        del latents[:]
        bad = conv.rgb_to_image(frame, probe.node.get_clock().now().to_msg(), "cam")
        bad.encoding = "32FC1"
        pub.publish(bad)
        assert "refused a camera image" in node.wait_log("refused a camera image", 10)
        assert "is not an 8-bit colour encoding" in node.log()
        probe.spin(0.3)
        assert not [m for _, m in latents if m.header.stamp == bad.header.stamp]
    finally:
        node.stop()


def test_encoder_drops_frames_it_cannot_keep_up_with(probe, vae_dir, tmp_path):
    node = NodeProcess("encoder", tmp_path, params={"checkpoint": str(vae_dir)}, node_name="encoder_burst")
    try:
        pub = probe.node.create_publisher(Image, topics.IMAGE, topics.SENSOR)
        latents = probe.listen(Image, topics.LATENT, topics.SENSOR)
        node.wait_log("encoder: latent 8")
        probe.spin_until(lambda: pub.get_subscription_count() > 0, 10, "the encoder subscribing")
        frame = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
        del latents[:]
        stamps = []
        for i in range(300):  # far faster than it encodes
            stamp = probe.node.get_clock().now().to_msg()
            stamps.append(stamp)
            pub.publish(conv.rgb_to_image(frame, stamp, "cam"))
        # then one more frame: it must be encoded at once, not after a queue of the 300 before it
        marker = probe.node.get_clock().now().to_msg()
        burst_end = time.monotonic()
        seen = lambda: any(m.header.stamp == marker for _, m in latents)  # noqa: E731
        while not seen() and time.monotonic() - burst_end < 5:  # best effort: a copy may be lost
            pub.publish(conv.rgb_to_image(frame, marker, "cam"))
            probe.spin(0.05)
        assert seen(), "the frame after the burst was never encoded"
        t_marker = next(t for t, m in latents if m.header.stamp == marker)
        assert t_marker - burst_end < 0.5, f"the newest frame waited {t_marker - burst_end:.2f} s behind old ones"
        got = [m.header.stamp for _, m in latents if m.header.stamp != marker]  # may be none: best effort
        assert len(got) < 300, "every frame was encoded: frames are being queued, not dropped"
        assert [conv.to_seconds(s) for s in got] == sorted(conv.to_seconds(s) for s in got)
        # a frame that arrives old is not encoded
        old = conv.to_stamp(time.time() - 5.0)
        pub.publish(conv.rgb_to_image(frame, old, "cam"))
        probe.spin(0.5)
        assert not [m for _, m in latents if m.header.stamp == old] and "dropped a frame" in node.log()
    finally:
        node.stop()


def test_twin_speaks_the_robots_topics_and_obeys_twists(probe, tmp_path):
    node = NodeProcess("twin", tmp_path, params={"task": "reach", "real_time": True})
    try:
        images = probe.listen(Image, topics.IMAGE, topics.SENSOR)
        infos = probe.listen(CameraInfo, topics.CAMERA_INFO, topics.SENSOR)
        joints = probe.listen(JointState, topics.JOINT_STATES, topics.SENSOR)
        poses = probe.listen(PoseStamped, topics.EE_POSE, topics.SENSOR)
        goals = probe.listen(Image, topics.GOAL_SET, topics.EVENTS)
        cmd = probe.node.create_publisher(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
        probe.spin_until(lambda: len(poses) >= 3 and images and infos and joints, 30, "the twin's topics")
        img = conv.image_to_rgb(images[-1][1])
        assert img.shape == (48, 48, 3) and images[-1][1].encoding == "rgb8"
        info = infos[-1][1]
        assert (info.width, info.height) == (48, 48) and info.k[0] > 0 and info.k[8] == 1.0
        assert joints[-1][1].name == ["base_yaw", "shoulder", "elbow", "wrist"]
        start = conv.position(poses[-1][1])
        np.testing.assert_allclose(start, [0.30, 0.0, 0.06], atol=0.01)  # home, at the held height
        # 10 Hz: about 10 steps per second
        n0, t0 = len(poses), time.monotonic()
        probe.spin(1.0)
        assert 7 <= (len(poses) - n0) / (time.monotonic() - t0) <= 13
        # obey +x at 0.1 m/s for 1 s: about 10 cm
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            cmd.publish(conv.twist([0.1, 0.0, 0.0], [0, 0, 0], probe.node.get_clock().now().to_msg(), "base_link"))
            probe.spin(0.05)
        probe.spin(0.5)  # commands stop: the twin halts by itself after its command timeout
        moved = conv.position(poses[-1][1]) - start
        assert 0.07 < moved[0] < 0.13 and abs(moved[1]) < 0.01, moved
        still = conv.position(poses[-1][1])
        probe.spin(0.5)
        np.testing.assert_allclose(conv.position(poses[-1][1]), still, atol=2e-3)
        # RViz's Publish Point: the twin renders the scene with the hand there and sends it as a goal image
        click = probe.node.create_publisher(PointStamped, topics.CLICKED_POINT, topics.EVENTS)
        probe.spin_until(lambda: click.get_subscription_count() > 0, 10, "the twin subscribing to clicks")
        msg = PointStamped(header=conv.header(probe.node.get_clock().now().to_msg(), "base_link"))
        msg.point.x, msg.point.y, msg.point.z = 0.40, -0.10, 0.0
        click.publish(msg)
        probe.spin_until(lambda: goals, 10, "a goal image from the clicked point")
        import rigbot.sim as sim
        env = sim.make("reach")
        env.reset(seed=0)
        expected = env.unwrapped.render_goal(np.array([0.40, -0.10]))
        env.close()
        goal = conv.image_to_rgb(goals[-1][1])
        assert np.mean(np.abs(goal.astype(int) - expected.astype(int))) < 3  # same scene, hand at the click
        assert "from a picked point" in node.log()
        # RViz's 2D Goal Pose: the same, for the hand
        pose_pub = probe.node.create_publisher(PoseStamped, topics.GOAL_POSE, topics.EVENTS)
        probe.spin_until(lambda: pose_pub.get_subscription_count() > 0, 10, "the twin subscribing to goal poses")
        n = len(goals)
        pose_pub.publish(conv.pose([0.30, 0.12, 0.0], probe.node.get_clock().now().to_msg(), "base_link"))
        probe.spin_until(lambda: len(goals) > n, 10, "a goal image from the goal pose")
        assert "[0.3, 0.12]" in node.wait_log("[0.3, 0.12]", 10, probe)
        # a point in another frame is refused, loudly
        msg.header.frame_id = "map"
        click.publish(msg)
        node.wait_log("the twin takes points in 'base_link'", 10)
        assert probe.call(Trigger, "/twin/reset").success
    finally:
        node.stop()


def test_camera_node_publishes_an_image_folder(probe, tmp_path):
    folder = tmp_path / "frames"
    frames = [np.full((60, 80, 3), (5 * i, 255 - 5 * i, 7), np.uint8) for i in range(40)]
    for i, f in enumerate(frames):
        media.write_png(folder / f"{i:03d}.png", f)
    images = probe.listen(Image, topics.IMAGE, topics.SENSOR)
    infos = probe.listen(CameraInfo, topics.CAMERA_INFO, topics.SENSOR)
    node = NodeProcess("camera", tmp_path, params={"source": f"opencv:{folder}", "fps": 10.0})  # 4 s: discovery has time
    try:
        node.wait_log("end of the recording", 30, probe)
        probe.spin(0.3)
        got = [conv.image_to_rgb(m) for _, m in images]
        assert len(got) >= 10, f"only {len(got)} of 40 frames arrived"
        index = [next(i for i, f in enumerate(frames) if np.array_equal(g, f)) for g in got]  # unchanged bytes
        assert index == sorted(index), "frames out of order"
        assert infos and (infos[-1][1].width, infos[-1][1].height) == (80, 60)
        assert infos[-1][1].header.frame_id == "camera_color_optical_frame"
    finally:
        node.stop()
    bad = NodeProcess("camera", tmp_path, params={"source": "opencv:/no/such/folder"}, node_name="bad_camera")
    assert bad.proc.wait(30) == 2
    assert "cannot start" in bad.log() and "/no/such/folder" in bad.log()


def test_policy_node_refuses_a_policy_trained_faster_than_the_deployment_allows(plumbing_checkpoint, tmp_path):
    """The gate would clamp such a policy's commands into motions it never learned: the node does not configure,
    and says which speeds disagree; the same policy under the twin arm's own limit configures."""
    from rigbot.calibration.deployment import DeploymentConfig, save_deployment
    from rigbot.policy.weights.checkpoint import load_policy

    trained = load_policy(plumbing_checkpoint).max_linear_speed
    slow = save_deployment(DeploymentConfig(max_linear_speed=trained / 2), tmp_path / "deployment.yaml")
    refused = NodeProcess("policy", tmp_path, node_name="policy_slow", params={
        "checkpoint": str(plumbing_checkpoint), "limits_file": str(slow), "autostart": True})
    accepted = NodeProcess("policy", tmp_path, node_name="policy_default", params={
        "checkpoint": str(plumbing_checkpoint), "autostart": True})
    try:
        log = refused.wait_log("refusing policy checkpoint", 60)
        assert f"trained to command up to {trained:g} m/s" in log and f"allows {trained / 2:g} m/s" in log, log
        assert "configured:" not in log
        assert "configured:" in accepted.wait_log("configured:", 60)
    finally:
        refused.stop()
        accepted.stop()
