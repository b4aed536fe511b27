"""Fine-tuning a twin-trained beta-VAE to a new camera look without moving its latent space.

A RIG policy acts on the encoder's latents. Fine-tuning the VAE on frames of a new look (the real camera) by its
own loss alone (``vae_training.finetune``, RIG's online fine-tuning) lets the latents drift: the encoder learns
*some* code for the new frames, not the one the policy was trained on. So the fine-tuning here adds an anchor:

    loss = ||D(z) - x_new||^2 + beta KL(q(z | x_new) || N(0, I))                  the beta-VAE loss on the new look
         + anchor_weight * ||mu(x_new) - mu_0(x_twin)||^2 / V                    new look -> the old latent
         + anchor_weight * ||mu(x_twin) - mu_0(x_twin)||^2 / V                   twin look keeps its latent

``mu_0`` is the encoder before fine-tuning (frozen), ``V`` the total variance of its latents of the twin images
(so the weight does not depend on the VAE's latent scale); ``x_twin`` is the twin rendering, in its modelled
look, of the scene the new frame shows: the hand at the position recorded with the frame (``render_twin_pairs``;
a robot's recordings hold the hand pose, and the twin, aligned to the robot by calibration, renders it). The
encoder thus maps the new look onto the latents the policy knows, the decoder learns to draw the new look (so
the goal check, imagined goal images and RViz show what the camera shows), and the latent prior is kept: the
latent space is the same, so the policy runs unchanged.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from rigbot.config import spec
from rigbot.perception.preprocessing import to_model_input
from rigbot.perception.vae import Encoder


@dataclass
class AnchoredFinetuneConfig:
    """How long and how hard to fine-tune, and how strongly to hold the latents in place."""

    epochs: int = field(default=20, metadata=spec("passes over the new frames", range=(1, 10000)))
    min_updates: int = field(default=400, metadata=spec("at least this many gradient steps (small datasets)",
                                                        range=(0, 10**7)))
    batch_size: int = field(default=64, metadata=spec("frames per gradient step", range=(1, 4096)))
    lr: float = field(default=3e-4, metadata=spec("Adam learning rate", range=(1e-6, 1.0)))
    anchor: Literal["twin", "none"] = field(default="twin", metadata=spec(
        "twin: pull the new frames' latents to the old encoder's latents of the same scene in the twin; "
        "none: the beta-VAE loss alone (latents may drift; for comparison)"))
    anchor_weight: float = field(default=1000.0, metadata=spec(
        "weight of the squared latent distances (in units of the twin latents' total variance) against the pixel "
        "loss (summed over pixels)", range=(0.0, 1e7)))


def render_twin_pairs(task: str, hands: np.ndarray, image_size: int, robot: str | None = None,
                      appearance: str = "nominal") -> np.ndarray:
    """The twin's camera images (N x S x S x 3 uint8) with the hand at each of ``hands`` (N x 3, metres, base
    frame), in the twin's modelled look: what the encoder was trained to see for the scene each frame shows."""
    import rigbot.sim as sim
    from rigbot.sim.rendering import mujoco

    hands = np.asarray(hands, np.float64)
    if task != "reach":
        raise ValueError(f"task {task!r}: pairing a frame with its twin scene needs every object's position; "
                         "recordings hold the hand's only, so anchored fine-tuning is for reach")
    if hands.ndim != 2 or hands.shape[1] != 3 or not np.all(np.isfinite(hands)):
        raise ValueError(f"hand positions must be N x 3 finite numbers (metres), got shape {hands.shape}")
    env = sim.make(task, robot=robot, image_size=image_size, appearance=appearance).unwrapped
    try:
        env.reset(seed=0)
        home = env.controller.joint_positions(env.data)  # IK from one pose: one posture branch for every frame
        data = mujoco.MjData(env.model)
        out = np.empty((len(hands), image_size, image_size, 3), np.uint8)
        for i, hand in enumerate(hands):
            data.qpos[:] = env.data.qpos
            env.controller.place(data, hand, seed=home)
            mujoco.mj_forward(env.model, data)
            out[i] = env.renderer.render(data)
    finally:
        env.close()
    return out


def finetune_anchored(encoder: Encoder, images: np.ndarray, twin_images: np.ndarray | None,
                      cfg: AnchoredFinetuneConfig | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Fine-tune ``encoder``'s VAE in place on ``images`` (new look, N x S x S x 3 uint8), anchored to the old
    encoder's latents of ``twin_images`` (the same scenes in the twin; not needed with ``anchor: none``).

    The prior is kept with ``anchor: twin`` (the latent space is unchanged) and refitted with ``anchor: none``.
    It runs where the encoder is (``encoder.device``). Returns a history: updates, mean losses of the last
    epoch, seconds.
    """
    from rigbot.perception.latent_prior import LatentPrior
    from rigbot.perception.vae_training import encode_all

    cfg = cfg or AnchoredFinetuneConfig()
    size = encoder.vae.cfg.image_size
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"the VAE takes {size} x {size} x 3 uint8 frames; got {images.dtype} frames of shape "
                         f"{images.shape[1:]} (convert recordings with 'rigbot dataset convert --image-size {size}')")
    if len(images) == 0:
        raise ValueError("no frames to fine-tune on")
    anchored = cfg.anchor == "twin"
    if anchored and (twin_images is None or np.shape(twin_images) != images.shape):
        raise ValueError("anchored fine-tuning needs one twin image per frame (render_twin_pairs)")
    vae, device = encoder.vae, encoder.device
    frozen = copy.deepcopy(vae).eval()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if anchored:
        with torch.no_grad():
            targets = np.concatenate([frozen.encode(torch.from_numpy(to_model_input(twin_images[i:i + 512]))
                                                    .to(device))[0].cpu().numpy() for i in range(0, len(images), 512)])
        # The anchor in units of the targets' total variance: a VAE's latent scale is arbitrary (a strong KL
        # term shrinks it), and the weight should mean the same for every VAE.
        scale = torch.tensor(max(float(targets.var(0).sum()), 1e-8) if len(targets) > 1 else 1.0, device=device)
    per_epoch = -(-len(images) // cfg.batch_size)
    updates = max(cfg.epochs * per_epoch, cfg.min_updates)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.lr)
    sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "anchor": 0.0, "twin_keep": 0.0}
    start = time.perf_counter()
    vae.train()
    order = rng.permutation(len(images))
    pos = 0
    for update in tqdm(range(updates), desc="fine-tune VAE", unit="update", disable=not progress, leave=False):
        if pos + cfg.batch_size > len(order):
            order, pos = rng.permutation(len(images)), 0
        idx = np.sort(order[pos:pos + cfg.batch_size])
        pos += cfg.batch_size
        x = torch.from_numpy(to_model_input(images[idx])).to(device)
        recon, mean, logvar = vae(x)
        rec = ((recon - x) ** 2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mean**2 - logvar.exp()).sum(1)).mean()
        loss = rec + vae.cfg.beta * kl
        terms = {"reconstruction": rec, "kl": kl}
        if anchored:
            z0 = torch.from_numpy(targets[idx]).to(device)
            anchor = ((mean - z0) ** 2).sum(1).mean() / scale
            z_twin = vae.encode(torch.from_numpy(to_model_input(twin_images[idx])).to(device))[0]
            keep = ((z_twin - z0) ** 2).sum(1).mean() / scale
            loss = loss + cfg.anchor_weight * (anchor + keep)
            terms.update(anchor=anchor, twin_keep=keep)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if update >= updates - per_epoch:  # the last epoch's means
            sums["loss"] += loss.item()
            for k, v in terms.items():
                sums[k] += v.item()
    vae.eval()
    n = min(per_epoch, updates)
    history = {k: v / n for k, v in sums.items()}
    if not anchored:
        encoder.prior = LatentPrior.fit(encode_all(vae, images))
    history.update(updates=updates, frames=len(images), seconds=time.perf_counter() - start, mode=cfg.anchor)
    return history


def transfer_metrics(encoder: Encoder, reference: Encoder, new_look: np.ndarray, twin_look: np.ndarray) -> dict:
    """How well ``encoder`` sees ``new_look`` frames as ``reference`` (the encoder the policy was trained with)
    sees the same scenes in the twin (``twin_look``, paired frame by frame).

    ``reconstruction_mse``: per pixel channel (0..1 scale) on the new look (``twin_reconstruction_mse``: the
    reference's on the twin images, the level to come back to). ``latent_error``: mean distance of the new look's
    latents to the reference latents of the twin scenes; ``latent_shape_error``: the same after taking away the
    mean offset, which a goal-conditioned policy shown current and goal images in one look can absorb;
    ``twin_drift``: the same for the twin images themselves. Distances are in units of the mean distance between
    the reference latents of two random scenes: 1.0 says as little about the scene as a random latent would.
    """
    z_ref = reference.encode(twin_look)
    pairs = np.random.default_rng(0).permutation(len(z_ref))
    spread = float(np.linalg.norm(z_ref - z_ref[pairs], axis=1).mean())
    z_new = encoder.encode(new_look)
    return {"reconstruction_mse": _reconstruction_mse(encoder, new_look, z_new),
            "twin_reconstruction_mse": _reconstruction_mse(reference, twin_look, z_ref),
            "latent_error": float(np.linalg.norm(z_new - z_ref, axis=1).mean()) / spread,
            "latent_shape_error": float(np.linalg.norm((z_new - z_new.mean(0)) - (z_ref - z_ref.mean(0)),
                                                       axis=1).mean()) / spread,
            "twin_drift": float(np.linalg.norm(encoder.encode(twin_look) - z_ref, axis=1).mean()) / spread}


def _reconstruction_mse(encoder: Encoder, images: np.ndarray, latents: np.ndarray) -> float:
    recon = encoder.decode(latents).astype(np.float32) / 255.0
    return float(((recon - images.astype(np.float32) / 255.0) ** 2).mean())
