"""Twin + encoder + goal + policy + safety gate as separate processes reach a goal image set with the CLI.

Needs a trained reach policy: $RIGBOT_TEST_REACH_CHECKPOINT, or checkpoints/reach (rigbot train reach).
"""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from ros_helpers import Graph, goal_png, set_goal_cli, trained_reach_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


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
