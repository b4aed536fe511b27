"""Twin-to-robot transfer: a twin-trained policy folder, fine-tuned to frames of the robot's camera.

``finetune_checkpoint`` reads a policy folder (``rigbot train --randomize``) and a frame dataset of the new look
(``rigbot dataset convert`` of robot recordings, or ``rigbot collect --appearance heldout`` in the twin), fine-tunes
the VAE with the twin anchor of ``perception.anchored_finetuning`` and writes a new policy folder: the same policy
weights (the latent space is kept, so the policy needs no change), the fine-tuned ``vae/``, and
``finetune.yaml`` (what was done, and the latent error and reconstruction on frames it held out, before and
after). ``rigbot eval``, ``rigbot weights init`` and the policy node load it like any policy folder.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from rigbot import config, media
from rigbot.files import atomic_write_text

COPIED = ("policy.safetensors", "policy.yaml", "curve.csv", "curve.json", "learning_curve.png")


def _split(episodes: np.ndarray, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out frame indices; whole episodes are held out (neighbouring frames look alike)."""
    ids = np.unique(episodes)
    if len(ids) >= 5:
        held = ids[:: max(2, int(round(1 / holdout)))]
        mask = np.isin(episodes, held)
    else:
        mask = np.zeros(len(episodes), bool)
        mask[:: max(2, int(round(1 / holdout)))] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def finetune_checkpoint(checkpoint: str | Path, data: str | Path, out: str | Path, cfg=None, robot: str | None = None,
                        max_frames: int | None = None, holdout: float = 0.1, seed: int = 0,
                        progress: bool = True, device="cpu") -> dict:
    """Fine-tune the VAE of policy folder ``checkpoint`` on dataset ``data``, on ``device`` (``rigbot.devices``:
    auto, cpu or cuda; a missing GPU is refused first); write the result to ``out``.

    Returns the report also written to ``out/finetune.yaml``.
    """
    from rigbot.perception.anchored_finetuning import (
        AnchoredFinetuneConfig,
        finetune_anchored,
        render_twin_pairs,
        transfer_metrics,
    )
    from rigbot.devices import resolve_device
    from rigbot.perception.frame_dataset import load_frames, read_meta
    from rigbot.perception.vae import load_checkpoint, save_checkpoint
    from rigbot.policy.weights.checkpoint import load_policy

    device = resolve_device(device)
    checkpoint, data, out = Path(checkpoint), Path(data), Path(out)
    cfg = cfg or AnchoredFinetuneConfig()
    if out.resolve() == checkpoint.resolve():
        raise ValueError(f"--out {out} is the checkpoint itself; fine-tuning writes a new policy folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder; choose another --out")
    policy = load_policy(checkpoint, device)  # checks policy.yaml against the weights, and the VAE against the policy
    if policy.encoder is None:
        raise ValueError(f"{checkpoint}: a {policy.observation}-observation policy has no VAE to fine-tune")
    meta = read_meta(data)
    size = policy.encoder.vae.cfg.image_size
    if meta.get("task") != policy.task:
        raise ValueError(f"{data}: frames of task {meta.get('task')!r}; the policy in {checkpoint} is for "
                         f"{policy.task!r}")
    if meta.get("image_size") != size:
        raise ValueError(f"{data}: {meta.get('image_size')} x {meta.get('image_size')} frames; the VAE in "
                         f"{checkpoint / 'vae'} takes {size} x {size} (convert again with --image-size {size})")
    frames = load_frames(data, max_frames=max_frames)
    images, hands = frames["images"], frames["observations"][:, :3]
    if len(images) < 10:
        raise ValueError(f"{data}: {len(images)} frames are too few to fine-tune on (at least 10)")
    train, val = _split(frames["episodes"], holdout)
    twin = render_twin_pairs(policy.task, hands, size, robot=robot)
    reference = load_checkpoint(checkpoint / "vae", device)
    before = transfer_metrics(policy.encoder, reference, images[val], twin[val])
    history = finetune_anchored(policy.encoder, images[train], twin[train], cfg, seed=seed, progress=progress)
    after = transfer_metrics(policy.encoder, reference, images[val], twin[val])

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in COPIED:
            if (checkpoint / name).is_file():
                shutil.copy2(checkpoint / name, tmp / name)
        info = {"finetuned_from": str(checkpoint.resolve()), "data": str(data.resolve()),
                "frames": int(len(train)), "anchor": cfg.anchor}
        enc = policy.encoder
        save_checkpoint(tmp / "vae", enc.vae, enc.prior, enc.preprocess, info=info)
        report = {"checkpoint": str(checkpoint), "data": str(data), "out": str(out), "robot": robot or "built-in",
                  "train_frames": int(len(train)), "heldout_frames": int(len(val)), "seed": seed,
                  "config": config.to_dict(cfg),
                  "training": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in history.items()},
                  "heldout_before": {k: round(v, 5) for k, v in before.items()},
                  "heldout_after": {k: round(v, 5) for k, v in after.items()}}
        atomic_write_text(tmp / "finetune.yaml", config.dump_yaml(report, sort_keys=False))
        show = val[np.linspace(0, len(val) - 1, min(8, len(val))).astype(int)]  # spread over the episodes
        _picture(tmp / "finetune.png", images[show], twin[show], reference, enc)
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.rename(out)  # the folder appears whole or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _picture(path: Path, frames: np.ndarray, twin: np.ndarray, reference, encoder) -> Path:
    """Held-out frames, the same scene in the twin, and the old and the new VAE's reconstructions."""
    rows = [(frames, "held-out frames (new look)"), (twin, "the same scenes in the twin"),
            (reference.decode(reference.encode(frames)), "reconstructed before fine-tuning"),
            (encoder.decode(encoder.encode(frames)), "reconstructed after fine-tuning")]
    return media.write_png(path, np.vstack([media.label(np.hstack([media.upscale(im, 96) for im in row]), text)
                                            for row, text in rows]))
