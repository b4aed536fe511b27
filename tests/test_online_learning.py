"""Learning on the robot: the versioned weight store, the online learner, robot episodes, and the whole loop over
real DDS (twin + encoder + goal + policy + safety gate + learner + episode manager + recorder as separate
processes), with live weight swaps, a rollback, and damaged or mismatched versions refused while the running one
keeps commanding; the run's recording then feeds a learner.

The policy is $RIGBOT_TEST_REACH_CHECKPOINT, checkpoints/reach, or else the session's CI-trained reach policy.
"""
import signal
import time

import numpy as np
import pytest
import yaml

from rigbot.policy.training.online_learner import OnlineLearner, OnlineLearnerConfig
from rigbot.control.episode_manager import GOAL, PAUSED, RESET, RUN, EpisodeConfig, EpisodeManager
from rigbot.policy.weights.weight_store import WeightStore, WeightStoreError
from test_untrusted_weights import republish


@pytest.fixture(scope="module")
def reach_checkpoint(request):
    from ros_helpers import trained_reach_checkpoint

    return trained_reach_checkpoint() or request.getfixturevalue("trained_reach_policy")


def small_learner(store, **overrides) -> OnlineLearner:
    cfg = OnlineLearnerConfig(**{"horizon": 10, "warmup_transitions": 20, "publish_every": 10, **overrides})
    return OnlineLearner(store, cfg, seed=0)


def twin_trajectory(learner, steps=25, seed=0):
    """A real trajectory: the twin's camera encoded by the policy's VAE, random hand velocities."""
    import rigbot.sim as sim

    env = sim.make("reach", image_size=48)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    latents, actions = [learner.encoder.encode(obs["image"])[0]], []
    for _ in range(steps):
        a = rng.uniform(-1, 1, learner.action_dim).astype(np.float32)
        obs, *_ = env.step(a * learner.vmax)
        latents.append(learner.encoder.encode(obs["image"])[0])
        actions.append(a)
    env.close()
    return np.stack(latents), np.stack(actions), learner.encoder.prior.sample(1, rng)[0]


def wider_network(folder):
    meta = yaml.safe_load((folder / "policy.yaml").read_text())
    meta["td3"]["hidden"] = [h + 1 for h in meta["td3"]["hidden"]]
    (folder / "policy.yaml").write_text(yaml.safe_dump(meta))


def flip_bytes(path, at=-100):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


# ---- the store and the learner, without ROS ---------------------------------------------------------------------
def test_store_publishes_complete_versions_and_rolls_back(reach_checkpoint, tmp_path):
    store = WeightStore.create(tmp_path / "store", reach_checkpoint)
    assert store.versions() == [1] and store.current() == 1
    assert (store.path(1) / "vae" / "vae.safetensors").is_file() and not (store.path(1) / "data").exists()
    learner = small_learner(store)
    stored = learner.add_trajectory(*twin_trajectory(learner))
    assert stored == 2 and learner.transitions == 20  # 25 steps: two windows of 10, the rest dropped
    # a crash mid-publish leaves a temporary folder: never a version, removed by the next publish
    (store.root / "versions" / ".tmp-v000002-999").mkdir()
    assert store.versions() == [1]
    version = learner.step(max_updates=50)
    assert version == 2 and learner.updates == 20 and store.current() == 2
    assert not list((store.root / "versions").glob(".tmp-*"))
    assert store.info(2)["parent"] == 1 and store.info(2)["updates"] == 20
    before = store.load(1).agent.state_dict()["actor.0.weight"]
    after = store.load(2).agent.state_dict()["actor.0.weight"]
    assert not np.allclose(before.numpy(), after.numpy()), "the published version did not learn anything"
    assert store.rollback() == 1 and store.current() == 1
    with pytest.raises(WeightStoreError, match="no earlier version"):
        store.rollback()
    # a restarted learner re-reads the saved episodes
    again = small_learner(store)
    assert again.load_episodes() == 1 and again.transitions == 20


def test_store_refuses_damaged_and_mismatched_versions(reach_checkpoint, tmp_path):
    store = WeightStore.create(tmp_path / "store", reach_checkpoint)
    damaged = republish(store, lambda f: None, source=1)
    flip_bytes(store.path(damaged) / "policy.safetensors")
    with pytest.raises(WeightStoreError, match="SHA-256 differs"):
        store.load(damaged)
    flip_bytes(store.path(damaged) / "policy.safetensors")  # undone: the same bytes load again
    store.load(damaged)
    wider = republish(store, wider_network, source=1)
    with pytest.raises(WeightStoreError, match=r"td3\.hidden"):
        store.load(wider)
    with pytest.raises(WeightStoreError, match="does not match the store's architecture"):
        store.publish_folder(store.path(wider), parent=1)
    with pytest.raises(WeightStoreError, match="not a weight store"):
        WeightStore(tmp_path)


def test_non_finite_weights_are_not_published_and_a_live_swap_to_them_fails_their_load(reach_checkpoint, tmp_path):
    import torch

    from rigbot.policy.weights.live_weights import LiveWeights

    store = WeightStore.create(tmp_path / "store", reach_checkpoint)
    running = store.load(1)
    learner = small_learner(store)
    with torch.no_grad():
        learner.agent.actor[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"not finite \(tensor actor\.0\.weight"):  # the learner does not publish
        learner.publish()
    meta = dict(learner.meta)
    # ... and if something else does, loading the version (store.load, reading its tensors) refuses it: no swap
    bad = store.publish(learner.agent, meta, parent=1)
    live = LiveWeights(store, 1, running, log=lambda text: None)
    live.request(bad, wait=True)
    assert live.take() is None and "NaN" in live.refused[bad]
    good = store.publish(store.load(1).agent, meta, parent=1)
    live.request(good, wait=True)
    assert live.take()[0] == good and live.version == good
    assert live.rollback() == 1
    live._loading.join()
    assert live.take()[0] == 1


def simulate(manager, hand, seconds, dt=0.1, policy_velocity=None):
    """Drive a point hand with the manager's commands (and a policy's while it is in charge)."""
    t = getattr(manager, "_t", 0.0)
    ticks = []
    for _ in range(int(round(seconds / dt))):
        tick = manager.tick(t, hand)
        ticks.append(tick)
        if tick.goal is not None:
            manager.goal_accepted()
        v = tick.command if tick.command is not None else np.zeros(3)
        if tick.policy_in_charge and policy_velocity is not None:
            v = policy_velocity
            manager.policy_step()
        hand = hand + v * dt
        t += dt
    manager._t = t
    return hand, ticks


def test_robot_episodes_reset_by_velocity_run_a_budget_and_pause():
    from rigbot.perception.latent_prior import LatentPrior

    cfg = EpisodeConfig(steps=20, start="random", reset_speed=0.1)
    rng = np.random.default_rng(0)
    m = EpisodeManager(cfg, [0.2, -0.2, 0.0], [0.5, 0.2, 0.3], [0.3, 0.0, 0.08], [0, 1], rng,
                       prior=LatentPrior.standard(4))
    hand = np.array([0.45, 0.15, 0.08])
    target = m.target.copy()
    hand, ticks = simulate(m, hand, 6.0, policy_velocity=np.array([0.05, 0.0, 0.0]))
    speeds = [np.abs(t.command).max() for t in ticks if t.command is not None]
    assert max(speeds) <= cfg.reset_speed + 1e-9  # velocity commands within the reset speed: no teleport
    assert all(t.command[2] == 0 for t in ticks if t.command is not None)  # only the policy's axes move
    assert m.episode >= 1 and "complete" in m.results
    assert any(t.goal is not None and t.goal[0] == "prior" and t.goal[1].shape == (4,) for t in ticks)
    assert np.all(target[:2] >= [0.23, -0.17]) and np.all(target[:2] <= [0.47, 0.17])
    # a pause (e-stop) in the middle of an episode aborts it and takes the policy out of charge
    while m.phase != RUN:
        hand, _ = simulate(m, hand, 0.1)
    events = m.pause("e-stop")
    assert any("aborted" in e for e in events) and m.phase == PAUSED
    hand2, ticks = simulate(m, hand, 1.0, policy_velocity=np.array([0.05, 0.0, 0.0]))
    assert np.allclose(hand2, hand) and not any(t.policy_in_charge or t.command is not None for t in ticks)
    assert m.resume("e-stop") == ["resumed: resetting"] and m.phase == RESET
    hand, _ = simulate(m, hand, 4.0)
    assert m.phase in (GOAL, RUN, RESET)


# ---- the whole loop over DDS ------------------------------------------------------------------------------------
rclpy = pytest.importorskip("rclpy")


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


def stamp_of(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


def gaps(commands, start, end):
    """The longest pause in the policy's acting among the commands received between start and end, measured on
    their stamps (the camera frames they answer), so a probe process that the machine's load slows down does not
    count its own delays."""
    inside = sorted(stamp_of(m) for t, m in commands if start <= t <= end)
    return np.diff(inside).max() if len(inside) > 1 else np.inf


def active_intervals(policy_log: str) -> list[tuple[float, float]]:
    """(activated, deactivated) wall times from the policy node's log: when it was in charge."""
    intervals, since = [], None
    for line in policy_log.splitlines():
        if "]: active: sending commands" in line or "]: inactive:" in line:
            t = float(line.split("] [", 1)[1].split("]", 1)[0])
            if "]: active" in line:
                since = t
            elif since is not None:
                intervals, since = intervals + [(since, t)], None
    return intervals + ([(since, np.inf)] if since is not None else [])


def missed_ticks(latents, commands, intervals, windows, on_time: float = 0.1) -> tuple[int, list[float]]:
    """Control ticks the policy node missed: camera frames whose latent reached this probe within ``on_time`` of
    the frame's stamp (so it was fresh when the policy got it too, with time to spare before ``max_age``), while
    the policy was in charge, inside one of ``windows`` (wall times), that no command answers (commands carry the
    stamp of the frame they were computed from). Counting frames by stamp, not timing the stream, keeps this
    independent of how the machine's load delays the upstream nodes and this probe."""
    answered = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in commands}
    due_in_windows, missed = 0, []
    for received, msg in latents:
        stamp = stamp_of(msg)
        due = received - stamp <= on_time and any(a + 0.1 <= stamp <= b - 0.3 for a, b in intervals)
        if due and any(a <= stamp <= b for a, b in windows):
            due_in_windows += 1
            if msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec not in answered:
                missed.append(stamp)
    return due_in_windows, missed


def cpu_hogs(n: int = 2) -> list:
    """``n`` busy processes beside the test: the loaded machine the control loop must keep up on."""
    import subprocess
    import sys

    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def test_learning_loop_swaps_weights_live_without_a_gap(ros, reach_checkpoint, tmp_path):
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import String, UInt32
    from std_srvs.srv import Trigger

    from ros_helpers import NodeProcess, Probe
    from rigbot_ros import topics

    store = WeightStore.create(tmp_path / "store", reach_checkpoint)
    ck = {"checkpoint": str(store.root)}
    timeout = 0.2  # the gate's command timeout
    nodes = {
        "twin": NodeProcess("twin", tmp_path, params={"task": "reach"}),
        "encoder": NodeProcess("encoder", tmp_path, params=ck),
        "goal": NodeProcess("goal", tmp_path, params=ck),
        "policy": NodeProcess("policy", tmp_path, params={**ck, "autostart": True}),
        "safety_gate": NodeProcess("safety_gate", tmp_path, params={"command_timeout": timeout}),
        "learner": NodeProcess("learner", tmp_path, params={
            "store": str(store.root), "horizon": 10, "warmup_transitions": 20, "publish_every": 10,
            "updates_per_step": 1.0}),
        "recorder": NodeProcess("recorder", tmp_path, params={"out": str(tmp_path / "recording")}),
        "episode_manager": NodeProcess("episode_manager", tmp_path, params={
            **ck, "steps": 25, "start": "random", "start_paused": False, "reset_tolerance": 0.015}),
    }
    probe = Probe("learning_probe")
    commands = probe.listen(TwistStamped, topics.POLICY_COMMAND, topics.COMMAND)
    latents = []  # (wall time received, message): the policy's input, on the same clock as the stamps
    probe.node.create_subscription(Image, topics.LATENT, lambda m: latents.append((time.time(), m)), topics.SENSOR)
    wall = time.time() - time.monotonic()  # monotonic receive times to wall times
    in_use = probe.listen(UInt32, topics.POLICY_WEIGHTS_VERSION, topics.LATCHED)
    gate = probe.listen(String, topics.GATE_STATUS, topics.EVENTS)
    announce = probe.node.create_publisher(UInt32, topics.LEARNER_VERSION, topics.LATCHED)
    start = time.monotonic()
    hogs = cpu_hogs(2)
    try:
        probe.spin_until(lambda: len(in_use) >= 3 and in_use[-1][1].data >= 3, 75,
                         "the policy node running weights version 3 or later (two live swaps)")
        swaps = [(t, m.data) for t, m in in_use[1:]]
        t_loop = time.monotonic() - start
        learner = nodes["learner"]  # the store's pointer is the policy node's alone from here
        learner.proc.send_signal(signal.SIGTERM)
        probe.spin_until(lambda: learner.proc.poll() is not None, 15, "the learner stopping")
        learner.stop()
        swaps = [(t, m.data) for t, m in in_use[1:]]
        # rollback: back to the version in use before, and it is reported
        running = in_use[-1][1].data
        answer = probe.call(Trigger, "/policy/rollback_weights")
        assert answer.success, answer.message
        probe.spin_until(lambda: in_use[-1][1].data == swaps[-2][1], 10, "the rollback reported")
        assert store.current() == swaps[-2][1] and running != swaps[-2][1]
        t_rollback = in_use[-1][0]
        # damaged and mismatched versions are refused; the running one keeps commanding
        assert probe.call(Trigger, "/policy/follow_learner").success  # it takes the learner's newest again
        probe.spin_until(lambda: in_use[-1][1].data == max(store.versions()), 10, "the newest version back in use")
        kept = in_use[-1][1].data
        damaged = republish(store, lambda f: None, source=kept)
        flip_bytes(store.path(damaged) / "policy.safetensors")
        wider = republish(store, wider_network, source=kept)
        t_bad = time.monotonic()
        for bad in (damaged, wider):
            announce.publish(UInt32(data=bad))
            nodes["policy"].wait_log(f"refused weights version {bad}", 15, probe)
        probe.spin(1.0)
        assert in_use[-1][1].data == kept
        t_end = time.monotonic()
        # around each swap, the rollback and the refusals: no control tick missed (each fresh frame that arrived
        # while the policy was in charge answered by a command, matched by stamps); command gaps only reported
        windows = [(t - 1.0, t + 1.0) for t, _ in swaps] + [(t_rollback - 1.0, t_rollback + 1.0), (t_bad, t_end)]
        recv = [t for t, _ in commands]
        worst = max(gaps(commands, a, b) for a, b in windows)
        stale = [t for t, m in gate if m.data == "stale command" and any(a <= t <= b for a, b in windows)]
        log = nodes["policy"].log()
        active, swapped_while_active = False, 0
        for line in log.splitlines():
            active = True if "active: sending commands" in line else False if "inactive:" in line else active
            swapped_while_active += active and "now running weights version" in line
        whole = gaps(commands, recv[0], t_end) if recv else np.inf
        long_gaps = [(round(a - start, 2), round(b - a, 3)) for a, b in zip(recv, recv[1:]) if b - a > 0.15]
        print("long gaps (s from start, s):", long_gaps, "gate:", [(round(t - start, 2), m.data) for t, m in gate])
        print(f"\nloop: {len(swaps)} swaps (versions {[v for _, v in swaps]}) within {t_loop:.1f} s; "
              f"largest command gap around swaps/rollback/refusals {worst * 1000:.0f} ms; "
              f"{len(commands)} commands; gate stale-command events in those windows: {len(stale)}; "
              f"{swapped_while_active} swaps while the policy was in charge; largest gap over the whole run "
              f"(resets and episode changes included) {whole * 1000:.0f} ms; whole run {time.monotonic() - start:.1f} s")
        due, missed = missed_ticks(latents, commands, active_intervals(log),
                                   [(a + wall, b + wall) for a, b in windows])
        print(f"control ticks missed around swaps, rollback and refusals (frames fresh on arrival, policy in "
              f"charge; two CPU hogs running): {len(missed)} of {due}")
        assert due >= 5, f"only {due} frames fell in the windows around swaps while the policy was in charge"
        assert not missed, f"the policy missed {len(missed)} control ticks around a swap: frames {missed}"
        assert swapped_while_active >= 1, "no swap happened while the policy was commanding"
        assert "SHA-256 differs" in log and "td3.hidden" in log
        assert [v for _, v in swaps] == sorted(v for _, v in swaps)
        learner_log = nodes["learner"].log()
        assert "episode ended" in learner_log and "published weights version" in learner_log
        assert "episode 1 started" in nodes["episode_manager"].log()
        # the e-stop, through the gate: the episode manager pauses (aborting a running episode), the arm gets
        # zeros; after the release the episodes go on with a reset
        arm = probe.listen(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
        assert probe.call(Trigger, "/safety_gate/estop").success
        nodes["episode_manager"].wait_log("paused: e-stop", 10, probe)
        probe.spin(0.5)
        from ros_helpers import twist_linear
        assert arm and all(not np.any(twist_linear(m)) for _, m in arm[-10:])
        assert probe.call(Trigger, "/safety_gate/release_estop").success
        nodes["episode_manager"].wait_log("resumed: resetting", 10, probe)
        # the run's recording is training data too: converted to frames, read by a learner
        assert nodes["recorder"].stop() == 0
        from rigbot.recording.dataset_conversion import recording_to_frames

        recording_to_frames(tmp_path / "recording", tmp_path / "frames")
        assert small_learner(store).add_frames(tmp_path / "frames") >= 20
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        for name in reversed(list(nodes)):
            nodes[name].stop(signal.SIGTERM)
        probe.close()
