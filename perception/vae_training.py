"""Training the beta-VAE on collected frames: held-out split, progress bar, checkpoints, a picture to look at."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rigbot import media
from rigbot.perception.latent_prior import LatentPrior
from rigbot.perception.preprocessing import PreprocessConfig, to_model_input
from rigbot.perception.vae import ConvVAE, Encoder, VAEConfig, save_checkpoint

_COLLAPSE_RATIO = 0.8  # held-out error above this share of the mean image's: warn that the arm is not learned


def _batches(images: np.ndarray, batch: int, rng: np.random.Generator | None = None, device=None):
    """Model inputs of ``images`` in batches (shuffled by ``rng``), on ``device`` (None: the CPU)."""
    order = rng.permutation(len(images)) if rng is not None else np.arange(len(images))
    for i in range(0, len(images), batch):
        x = torch.from_numpy(to_model_input(images[order[i:i + batch]]))
        yield x if device is None else x.to(device)


def _device(vae: ConvVAE) -> torch.device:
    return next(vae.parameters()).device


@torch.no_grad()
def evaluate(vae: ConvVAE, images: np.ndarray, batch: int = 512) -> float:
    """Mean squared reconstruction error per pixel channel (0..1 scale) on ``images``, using encoder means."""
    vae.eval()
    total, count = 0.0, 0
    for x in _batches(images, batch, device=_device(vae)):
        recon = vae.decode(vae.encode(x)[0])
        total += float(((recon - x) ** 2).sum())
        count += x.numel()
    return total / max(count, 1)


@torch.no_grad()
def encode_all(vae: ConvVAE, images: np.ndarray, batch: int = 512) -> np.ndarray:
    vae.eval()
    return np.concatenate([vae.encode(x)[0].cpu().numpy() for x in _batches(images, batch, device=_device(vae))])


def train_vae(images: np.ndarray, out: str | Path, cfg: VAEConfig, epochs: int = 20, batch_size: int = 128,
              lr: float = 1e-3, holdout: float = 0.1, seed: int = 0, progress: bool = True, device=None) -> dict:
    """Train on RGB uint8 ``images`` (N x S x S x 3); save the checkpoint and ``vae_grid.png`` to ``out``.
    ``device``: a ``torch.device`` to train on (None: the CPU); the network is initialised on the CPU first, so a
    seed starts from the same weights everywhere.

    Returns the history: per-epoch train loss and held-out reconstruction error, and training images/s.
    """
    if images.ndim != 4 or images.shape[1:] != (cfg.image_size, cfg.image_size, 3):
        raise ValueError(f"images of shape {images.shape[1:]} do not fit a {cfg.image_size} x {cfg.image_size} VAE")
    if len(images) < 20:
        raise ValueError(f"{len(images)} images are too few to train and hold out a validation split")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_val = max(1, int(round(holdout * len(images))))
    val, train = images[order[:n_val]], images[order[n_val:]]
    vae = ConvVAE(cfg)
    if device is not None:
        vae = vae.to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    history = {"epoch": [], "train_loss": [], "val_mse": [], "images_per_s": []}
    # What a VAE that ignores its input scores: the mean training image. Until it does clearly better, the VAE
    # draws the empty scene (the arm is a few percent of the pixels) and RIG has nothing to learn from.
    mean_image = to_model_input(train[:2000]).mean(0)
    history["mean_image_mse"] = float(((to_model_input(val) - mean_image) ** 2).mean())
    out = Path(out)
    for epoch in range(1, epochs + 1):
        vae.train()
        losses, start = [], time.perf_counter()
        bar = tqdm(_batches(train, batch_size, rng, device), total=-(-len(train) // batch_size), unit="batch",
                   desc=f"vae epoch {epoch}/{epochs}", disable=not progress, leave=False)
        for x in bar:
            loss, rec, kl = vae.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.1f}", kl=f"{kl.item():.1f}")
        speed = len(train) / (time.perf_counter() - start)
        val_mse = evaluate(vae, val)
        for k, v in zip(history, (epoch, float(np.mean(losses)), val_mse, speed)):
            history[k].append(v)
        if progress:
            tqdm.write(f"epoch {epoch}: train loss {np.mean(losses):.1f}, held-out MSE {val_mse:.5f}, "
                       f"{speed:.0f} images/s")
        prior = LatentPrior.fit(encode_all(vae, train))
        save_checkpoint(out, vae, prior, PreprocessConfig(size=cfg.image_size),
                        info={"epoch": epoch, "train_images": len(train), "heldout_images": len(val),
                              "heldout_mse": val_mse, "mean_image_mse": history["mean_image_mse"], "seed": seed})
    encoder = Encoder(vae, prior, PreprocessConfig(size=cfg.image_size))
    write_grid(encoder, val[:8], out / "vae_grid.png", np.random.default_rng(seed))
    if history["val_mse"][-1] > _COLLAPSE_RATIO * history["mean_image_mse"]:
        warnings.warn(f"the VAE's held-out error {history['val_mse'][-1]:.5f} is not clearly below the "
                      f"{history['mean_image_mse']:.5f} of drawing the mean image: it has probably not learned "
                      f"the arm yet (look at {out / 'vae_grid.png'}); train for more epochs", stacklevel=2)
    return history


def finetune(encoder: Encoder, images: np.ndarray, epochs: int = 1, batch_size: int = 128, lr: float = 3e-4,
             rng: np.random.Generator | None = None) -> float:
    """Go on training ``encoder``'s VAE on new ``images`` (RIG's online fine-tuning), then refit its prior.

    Returns the mean training loss of the last epoch. The encoder is updated in place, on its device.
    """
    vae = encoder.vae
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    rng = rng or np.random.default_rng()
    for _ in range(epochs):
        vae.train()
        losses = []
        for x in _batches(images, batch_size, rng, encoder.device):
            loss = vae.loss(x)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    vae.eval()
    encoder.prior = LatentPrior.fit(encode_all(vae, images))
    return float(np.mean(losses))


def write_grid(encoder: Encoder, originals: np.ndarray, path: Path, rng: np.random.Generator) -> Path:
    """Three rows: held-out originals, their reconstructions, and decoded samples of the fitted prior."""
    recon = encoder.decode(encoder.encode(originals))
    samples = encoder.decode(encoder.prior.sample(len(originals), rng))
    rows = [media.label(np.hstack([media.upscale(im, 96) for im in row]), text) for row, text in
            ((originals, "held-out images"), (recon, "reconstructions"), (samples, "samples of the latent prior"))]
    return media.write_png(path, np.vstack(rows))
