"""The whole pipeline a newcomer runs (``rigbot train``): exploration frames -> beta-VAE -> RIG, in one folder.

    OUT/data/       random exploration of the twin (perception.frame_dataset format)
    OUT/vae/        the image encoder and its latent prior
    OUT/policy.*    the trained policy (see policy.weights.checkpoint); curve.csv/json, learning_curve.png
    OUT/training/   the resumable state of the RL run

Each stage is skipped when its output is already complete, so running the same command again (``--resume``)
continues where a killed run stopped.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from rigbot import config
from rigbot.config import ConfigError

DEFAULTS = {  # per task: exploration frames, VAE epochs, RL environment steps (the most: the default budget ends
    # early once the success rate reaches stop_at_success at two evaluations in a row)
    "reach": {"frames": 10000, "vae_epochs": 15, "env_steps": 10000, "stop_at_success": 0.95},
    "push": {"frames": 30000, "vae_epochs": 15, "env_steps": 200000, "stop_at_success": 0.95},
}


def log_stage(text: str) -> None:
    """A line saying which stage runs: printed even without progress bars (--quiet), so a log shows it."""
    print(text, flush=True)


def prepare_data(task: str, out: Path, frames: int, seed: int, progress: bool, randomize: bool = False) -> Path:
    from rigbot.perception.collect import collect
    from rigbot.perception.frame_dataset import count_frames

    data = out / "data"
    have = count_frames(data)
    if have >= frames:
        log_stage(f"[1/3] exploration frames: {have} already in {data}")
        return data
    log_stage(f"[1/3] collecting {frames - have} exploration frames of {task} into {data}")
    collect(task, frames - have, data, seed=seed + have, progress=progress, randomize=randomize)
    return data


def prepare_vae(data: Path, out: Path, epochs: int, seed: int, progress: bool, vae: str | Path | None = None,
                latent_dim: int = 16, device=None) -> Path:
    from rigbot.perception.frame_dataset import load_frames, read_meta
    from rigbot.perception.vae import VAEConfig
    from rigbot.perception.vae_training import train_vae

    target = out / "vae"
    if vae is not None:  # a VAE trained before (e.g. shared by several agents on the same seeds)
        if Path(vae).resolve() != target.resolve():
            shutil.copytree(vae, target, dirs_exist_ok=True)
        log_stage(f"[2/3] VAE: using {vae}")
        return target
    cfg_path = target / "vae.yaml"
    if cfg_path.is_file() and (config.read_yaml(cfg_path).get("info") or {}).get("epoch", 0) >= epochs:
        log_stage(f"[2/3] VAE: already trained in {target}")
        return target
    images = load_frames(data)["images"]
    size = read_meta(data)["image_size"]
    log_stage(f"[2/3] training the beta-VAE on {len(images)} frames ({epochs} epochs)")
    train_vae(images, target, VAEConfig(image_size=size, latent_dim=latent_dim), epochs=epochs, seed=seed,
              progress=progress, device=device)
    return target


def train_pipeline(task: str = "reach", out: str | Path = "checkpoints/reach", agent: str = "rig", seed: int = 0,
                   env_steps: int | None = None, frames: int | None = None, vae_epochs: int | None = None,
                   vae: str | Path | None = None, resume: bool = False, progress: bool = True,
                   rig_overrides: dict | None = None, latent_dim: int = 16, randomize: bool = False,
                   device="cpu") -> Path:
    """Collect, train the VAE and train the agent; returns the policy folder ``out``.

    ``randomize``: domain randomisation in every stage (exploration frames, RL episodes, evaluation), for a
    policy meant to transfer to a real camera. ``device`` (``rigbot.devices``: auto, cpu, cuda): where the VAE
    trains and the agent learns; checked first, so a missing GPU is refused before any stage starts. The
    environments, the replay and the encoder in the RL loop (one image per step) stay on the CPU."""
    from rigbot.devices import resolve_device
    from rigbot.perception.frame_dataset import load_frames
    from rigbot.perception.vae import load_checkpoint
    from rigbot.policy.training.observations import make_view
    from rigbot.policy.training.rig import RIGTrainer, rig_config

    device = resolve_device(device)
    if task not in DEFAULTS:
        raise ConfigError(f"unknown task {task!r}; tasks: {', '.join(DEFAULTS)}")
    out = Path(out)
    if (out / "training" / "latest.yaml").is_file() and not resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it, or choose another "
                         "--out")
    d = DEFAULTS[task]
    overrides = dict(rig_overrides or {})
    if env_steps is None:  # the default budget stops when done; a budget asked for runs whole, unless told
        overrides.setdefault("stop_at_success", d["stop_at_success"])
    cfg = rig_config(agent, task=task, env_steps=env_steps or d["env_steps"], **overrides)
    encoder, exploration = None, None
    if cfg.observation == "latent" and vae is not None:  # a trained VAE: no exploration frames needed
        data = None
        log_stage("[1/3] exploration frames: not needed (a trained VAE is given)")
    else:
        data = prepare_data(task, out, frames or d["frames"], seed, progress, randomize)
    if cfg.observation == "latent":
        encoder = load_checkpoint(prepare_vae(data, out, vae_epochs or d["vae_epochs"], seed, progress, vae,
                                              latent_dim, device))
    else:
        exploration = load_frames(data)
        log_stage("[2/3] VAE: not needed (this agent sees true positions)")
    view, mean, std = make_view(cfg.observation, encoder, exploration)
    trainer = RIGTrainer(cfg, out, view, mean, std, seed=seed, progress=progress,
                         env_options={"image_size": encoder.vae.cfg.image_size if encoder else 48,
                                      **({"randomize": True} if randomize else {})}, device=device)
    if resume and trainer.resume():
        log_stage(f"[3/3] resuming {agent} at step {trainer.steps} of {cfg.env_steps}")
    else:
        until = (f", stopping once {cfg.stop_at_success:.0%} of the evaluation goals are reached at "
                 f"{cfg.stop_evaluations} evaluations in a row" if cfg.stop_at_success is not None else "")
        budget = f"at most {cfg.env_steps}" if until else str(cfg.env_steps)
        log_stage(f"[3/3] training {agent} on {task} for {budget} environment steps{until}")
    final = trainer.train()
    if trainer.steps < cfg.env_steps:
        log_stage(f"stopped at step {trainer.steps} of {cfg.env_steps}: success at or above "
                  f"{cfg.stop_at_success:.0%} at {cfg.stop_evaluations} evaluations in a row")
    log_stage(f"done: success {final['success_rate']:.0%} on {trainer.cfg.eval_episodes} rendered goal images; "
              f"policy in {out}; learning curve in {out / 'learning_curve.png'}")
    return out
