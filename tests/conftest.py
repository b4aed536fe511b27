"""Shared test setup. DDS traffic stays on this machine, on a domain of the test run's own."""
import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
# One torch thread in this process and every node it starts: two spinning OpenMP threads per process stall each
# other as soon as a test runs several processes on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import rigbot.sim  # noqa: E402,F401  (chooses the OpenGL backend before anything imports mujoco)


import pytest  # noqa: E402


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.config._rigbot_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """The suite runs pyrealsense2 and rclpy in this one process: leave without their crashing native teardown
    (see rigbot.process), with pytest's own exit status, once everything is reported."""
    from rigbot.process import finish

    finish(getattr(config, "_rigbot_exitstatus", 0))

# The budget of the CI learning run (see test_training.py): small, but RIG on reach learns within it.
CI_REACH = {"frames": 3000, "vae_epochs": 20, "env_steps": 4000,
            "rig": {"updates_per_step": 2, "random_steps": 500, "eval_every": 1000, "eval_episodes": 20,
                    "checkpoint_every": 4000}}


@pytest.fixture(scope="session")
def plumbing_checkpoint(request, tmp_path_factory):
    """A briefly trained VAE and an untrained actor (``ros_helpers.make_plumbing_checkpoint``), for the graph and
    launch tests: made once per suite, and kept in pytest's cache folder between local runs (when the cache is on)."""
    from ros_helpers import make_plumbing_checkpoint

    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("rigbot_plumbing_checkpoint_v1") if cache else tmp_path_factory.mktemp("plumbing")
    return make_plumbing_checkpoint(folder)


@pytest.fixture(scope="session")
def trained_reach_policy(tmp_path_factory):
    """A RIG reach policy trained once per test session, by the real pipeline, on a fixed seed."""
    from rigbot.policy.training.pipeline import train_pipeline

    out = tmp_path_factory.mktemp("reach_policy")
    return train_pipeline("reach", out, agent="rig", seed=0, env_steps=CI_REACH["env_steps"],
                          frames=CI_REACH["frames"], vae_epochs=CI_REACH["vae_epochs"], progress=False,
                          rig_overrides=CI_REACH["rig"])
