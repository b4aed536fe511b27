"""Headless backend choice, and the rigbot command line as a person runs it."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def run(args, env_update=None, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env.update(env_update or {})
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, **kw)


def rigbot(*args, **kw):
    return run([sys.executable, "-m", "rigbot.cli", *args], **kw)


@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_each_headless_backend_renders_the_twin(backend):
    code = ("import os, rigbot.sim as s; e = s.make('reach'); o, _ = e.reset(seed=0); "
            "print(os.environ['MUJOCO_GL'], o['image'].std() > 5)")
    proc = run([sys.executable, "-c", code], {"RIGBOT_GL_BACKENDS": backend})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [backend, "True"]


def test_egl_is_tried_first():
    proc = run([sys.executable, "-c", "import os, rigbot.sim; print(os.environ['MUJOCO_GL'])"])
    assert proc.stdout.strip() == "egl", proc.stderr


def test_no_working_backend_is_a_clear_error():
    proc = run([sys.executable, "-c", "import rigbot.sim"], {"RIGBOT_GL_BACKENDS": "nosuchgl,alsomissing"})
    assert proc.returncode != 0
    assert "RenderingUnavailable: no headless OpenGL backend could render (nosuchgl:" in proc.stderr
    assert "alsomissing:" in proc.stderr and "apt-get install" in proc.stderr


def test_help_lists_the_verbs():
    proc = rigbot("--help")
    assert proc.returncode == 0
    for verb in ("show", "config", "doctor"):
        assert verb in proc.stdout
    proc = rigbot("show", "--help")
    assert "--randomize" in proc.stdout and "--image-size" in proc.stdout


def test_show_writes_goal_png_and_rollout_gif(tmp_path):
    proc = rigbot("show", "push", "--out", str(tmp_path), "--steps", "12", "--image-size", "64")
    assert proc.returncode == 0, proc.stderr
    png = cv2.imread(str(tmp_path / "push_goal.png"))
    assert png is not None and png.shape[0] > 200 and png.shape[1] > 2 * png.shape[0] - 50
    ok, anim = cv2.imreadanimation(str(tmp_path / "push_rollout.gif"))
    frames = anim.frames
    assert ok and len(frames) == 13
    assert not np.array_equal(frames[0], frames[-1]), "random actions must move the arm"
    assert "puck" in proc.stdout and "hand" in proc.stdout


def test_config_round_trips_through_show(tmp_path):
    proc = rigbot("config", "reach")
    assert proc.returncode == 0
    path = tmp_path / "reach.yaml"
    path.write_text(proc.stdout.replace("image_size: 48", "image_size: 40"))
    proc = rigbot("show", "reach", "--config", str(path), "--out", str(tmp_path), "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    ok, anim = cv2.imreadanimation(str(tmp_path / "reach_rollout.gif"))
    frames = anim.frames
    assert ok and len(frames) == 3


def test_bad_config_is_reported_with_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("image_size: 1000\n")
    proc = rigbot("show", "reach", "--config", str(path), "--out", str(tmp_path))
    assert proc.returncode == 2
    assert f"{path}: image_size: 1000 is out of range [32, 256]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "reach_goal.png").exists()


def test_packages_live_under_the_rigbot_namespace():
    code = ("import importlib.util as u; import rigbot.sim, rigbot.policy, rigbot.perception, rigbot.calibration; "
            "print([n for n in ('sim', 'policy', 'perception', 'calibration') if u.find_spec(n)])")
    proc = run([sys.executable, "-c", code], cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", "no bare top-level sim/policy/... may be importable"
    pyproject = (REPO / "pyproject.toml").read_text()
    for folder in ("sim", "perception", "policy", "calibration"):
        for init in (REPO / folder).rglob("__init__.py"):
            pkg = "rigbot." + ".".join(init.parent.relative_to(REPO).parts)
            assert f'"{pkg}"' in pyproject, f"{pkg} is not listed in pyproject.toml's packages"


def test_collect_then_vae_train_from_the_command_line(tmp_path):
    data, ckpt = tmp_path / "data", tmp_path / "vae"
    proc = rigbot("collect", "reach", "--frames", "120", "--out", str(data))
    assert proc.returncode == 0, proc.stderr
    assert "120 frames written" in proc.stdout
    proc = rigbot("vae", "train", "--data", str(data), "--out", str(ckpt), "--epochs", "1", "--latent-dim", "3")
    assert proc.returncode == 2 and "command line: vae.latent_dim" not in proc.stderr
    assert "latent_dim: 3 is out of range [4, 64]" in proc.stderr
    proc = rigbot("vae", "train", "--data", str(data), "--out", str(ckpt), "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    assert {"vae.safetensors", "vae.yaml", "vae_grid.png"} <= {p.name for p in ckpt.iterdir()}
    assert cv2.imread(str(ckpt / "vae_grid.png")).shape[0] > 200


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("verb", [["train", "--agent", "rig"], ["train", "--agent", "hiql", "--data", "DATA"],
                                  ["eval", "--checkpoint", "DATA"], ["finetune", "--data", "DATA"],
                                  ["vae", "train", "--data", "DATA"]], ids=lambda v: "-".join(v[:3]))
def test_device_cuda_without_a_gpu_is_refused_before_any_work(tmp_path, capsys, verb):
    """Refused first: the missing data folder, which any work would trip over, is never reached."""
    from rigbot.cli import main

    out = tmp_path / "out"
    args = [a.replace("DATA", str(tmp_path / "missing")) for a in verb]
    assert main([*args, "--out", str(out), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert f"rigbot {verb[0]}: error: device cuda: torch sees no CUDA GPU (torch {torch.__version__}" in err
    assert "missing" not in err and not out.exists()


def test_eval_runs_a_policy_on_the_device_asked_for(tmp_path, capsys):
    from rigbot import config
    from rigbot.cli import main
    from rigbot.policy.agents.td3 import TD3, TD3Config
    from rigbot.policy.weights.checkpoint import save_policy

    cfg = TD3Config(hidden=[16])
    meta = {"task": "reach", "observation": "state", "obs_dim": 7, "goal_dim": 2, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48, "learner": "td3",
            "td3": config.to_dict(cfg)}
    save_policy(tmp_path, TD3(cfg, 7, 2, 2), meta)
    assert main(["eval", "--checkpoint", str(tmp_path), "--episodes", "1", "--gif-episodes", "0",
                 "--device", "cpu"]) == 0, capsys.readouterr().err
    assert (tmp_path / "eval.json").is_file()
