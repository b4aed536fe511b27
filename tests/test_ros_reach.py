"""Twin + encoder + goal + policy + safety gate as separate processes reach a goal image set with the CLI.

The policy is $RIGBOT_TEST_REACH_CHECKPOINT, checkpoints/reach, or else the session's CI-trained reach policy
(conftest.trained_reach_policy).

How good the policy is, is test_training's question. This test asks whether the node graph does what the policy
does: it takes the goal the policy reaches best when run directly on the twin (no ROS; within the task's 5 cm), and
requires the graph, across processes and DDS, to bring the hand within 5 cm of it too.
"""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_helpers import Graph, goal_png, set_goal_cli, trained_reach_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def reach_checkpoint(request):
    return trained_reach_checkpoint() or request.getfixturevalue("trained_reach_policy")


def goal_the_policy_reaches(checkpoint, candidates: int = 20) -> np.ndarray:
    """Of ``candidates`` hand goals, the one the policy, acting directly on the twin's images (no ROS), ends
    nearest to from home; it must be within the task's 5 cm."""
    import rigbot.sim as sim
    from rigbot.policy.weights.checkpoint import load_policy

    policy = load_policy(checkpoint)
    env = sim.make("reach", image_size=policy.image_size)
    rng = np.random.default_rng(1)
    twin = env.unwrapped
    best = (None, np.inf)
    try:
        for _ in range(candidates):
            target = rng.uniform(twin.hand_goal_low[:2], twin.hand_goal_high[:2])
            obs, _ = env.reset(seed=0, options={"goal": target})
            if np.linalg.norm(obs["achieved_goal"] - target) < 0.08:
                continue  # too close to home to show anything
            z_goal = policy.encoder.encode(twin.goal_image)[0]
            for _ in range(50):
                action = policy.act(policy.encoder.encode(obs["image"])[0], z_goal)
                obs, _, _, _, info = env.step(action)
            if info["hand_distance"] < best[1]:
                best = (target, info["hand_distance"])
    finally:
        env.close()
    if best[1] >= 0.05:
        pytest.fail(f"the policy reaches none of {candidates} goals directly (best {best[1] * 100:.1f} cm): "
                    "it is not trained well enough for this test")
    return best[0]


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


def test_reaches_a_goal_image(ros, reach_checkpoint, tmp_path):
    target = goal_the_policy_reaches(reach_checkpoint)
    graph = Graph(reach_checkpoint, tmp_path, autostart=True)
    try:
        start = graph.hand()
        result = set_goal_cli(goal_png(tmp_path / "goal.png", target))
        assert result.returncode == 0, result.stdout + result.stderr
        p = graph.probe
        end = time.monotonic() + 30
        close_for = 0
        while time.monotonic() < end and close_for < 10:  # within 5 cm for a second
            p.spin(0.1)
            close_for = close_for + 1 if np.linalg.norm(graph.hand()[:2] - target) < 0.05 else 0
        distance = np.linalg.norm(graph.hand()[:2] - target)
        assert distance < 0.05, (f"the hand ended {distance * 100:.1f} cm from the goal (started "
                                 f"{np.linalg.norm(start[:2] - target) * 100:.1f} cm away)")
    finally:
        graph.stop()
