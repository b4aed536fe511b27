"""Training end to end: RIG learns to reach in the twin, and a killed run resumes from its last checkpoint."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import yaml

from rigbot.policy.checkpoint import load_policy


def test_short_rig_run_reaches_much_closer_than_a_random_policy(trained_reach_policy):
    """The learning test. Both policies are evaluated on the same 20 rendered goal images (fixed seeds).

    A random policy ends about 15 cm from the goal on average. The learned one must end closer than half of
    that, and closer than the random policy on most episodes' medians. Chance cannot pass this: a random policy
    integrates zero-mean noise, so its final position is spread over the workspace regardless of the goal, and
    half the random distance needs the goal image to steer the hand.
    """
    out = trained_reach_policy
    report = json.loads((out / "curve.json").read_text())
    final, rnd = report["curve"][-1], report["random_policy"]
    assert final["env_steps"] >= 2000
    assert final["hand_distance_mean"] < 0.5 * rnd["hand_distance_mean"], (final, rnd)
    assert final["success_rate"] > rnd["success_rate"] + 0.2, (final, rnd)


def test_eval_cli_reports_and_writes_its_files(trained_reach_policy, tmp_path):
    out = tmp_path / "eval"
    r = subprocess.run([sys.executable, "-m", "rigbot.cli", "eval", "--checkpoint", str(trained_reach_policy),
                        "--episodes", "4", "--gif-episodes", "1", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "random policy" in r.stdout and "success" in r.stdout
    report = json.loads((out / "eval.json").read_text())
    assert report["policy"]["episodes"] == 4 and 0.0 <= report["policy"]["success_rate"] <= 1.0
    for name in ("eval_episodes.gif", "learning_curve.png", "curve.csv"):
        assert (out / name).stat().st_size > 1000 or name == "curve.csv"
    policy = load_policy(trained_reach_policy)
    assert policy.encoder is not None and policy.action_dim == 2


def _train_cmd(out, cfg_path, steps, resume=False):
    cmd = [sys.executable, "-m", "rigbot.cli", "train", "--agent", "oracle", "--out", str(out), "--frames", "300",
           "--env-steps", str(steps), "--config", str(cfg_path), "--quiet"]
    return cmd + (["--resume"] if resume else [])


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    cfg_path = tmp_path / "rig.yaml"
    cfg_path.write_text(yaml.safe_dump({"random_steps": 100, "updates_per_step": 1, "eval_every": 200,
                                        "eval_episodes": 2, "checkpoint_every": 100,
                                        "td3": {"hidden": [32, 32]}}))
    out = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(out, cfg_path, 100000), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    latest = out / "training" / "latest.yaml"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if latest.is_file() and yaml.safe_load(latest.read_text())["step_dir"] >= "step_00000200":
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        else:
            raise AssertionError("no checkpoint at step 200 within 4 minutes")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up: as if the power went
        proc.wait()
    saved = int(yaml.safe_load(latest.read_text())["step_dir"].split("_")[1])
    assert saved >= 200
    policy_before = load_policy(out)  # the deployable files are whole after the kill
    assert policy_before.meta["trained_env_steps"] >= 200

    r = subprocess.run(_train_cmd(out, cfg_path, saved + 100), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--resume" in r.stderr  # never silently overwrites a run
    r = subprocess.run(_train_cmd(out, cfg_path, saved + 100, resume=True), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resuming oracle at step {saved}" in r.stdout
    curve = json.loads((out / "curve.json").read_text())["curve"]
    steps = [row["env_steps"] for row in curve]
    assert steps[-1] == saved + 100 and steps == sorted(steps)
    assert np.isfinite(curve[-1]["hand_distance_mean"])
    assert len(list((out / "training").glob("step_*"))) == 1  # older states are cleaned up
