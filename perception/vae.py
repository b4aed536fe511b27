"""The convolutional beta-VAE that turns camera images into the small latents RIG works in.

Encoder: strided 4x4 convolutions halve the image (48 -> 24 -> 12 -> 6 -> 3, or 84 -> 42 -> 21 -> 10 -> 5), then
linear heads give the mean and log-variance of q(z | x). Decoder: by default the spatial broadcast decoder
(``perception/spatial_broadcast.py``), which keeps latent distance faithful to scene distance; ``decoder: deconv``
is the encoder's mirror image with transposed convolutions (and what checkpoints without the key hold). Loss:
squared error summed over pixels plus beta times the KL divergence to N(0, I) (Higgins et al. 2017). RIG uses the
encoder *mean* as the state and goal latent.

Checkpoints are a safetensors file (weights and the fitted latent prior; never pickled code) with a YAML
config beside it. Loading checks the config against the file and every tensor's shape, and refuses a mismatch
with a message that says which.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.files import atomic_write_text
from rigbot.perception.latent_prior import LatentPrior
from rigbot.perception.preprocessing import PreprocessConfig, to_model_input
from rigbot.perception.spatial_broadcast import SpatialBroadcastDecoder
from rigbot.weights import WeightsFileError, expected_shapes, load_weights, save_weights


@dataclass
class VAEConfig:
    """Architecture and objective of the beta-VAE."""

    image_size: Literal[48, 84] = field(default=48, metadata=spec("input side, pixels (RIG used 48 and 84)"))
    latent_dim: int = field(default=16, metadata=spec("latent size (RIG: 4 to 16)", range=(4, 64)))
    beta: float = field(default=0.5, metadata=spec("weight of the KL term", range=(0.0, 1000.0)))
    channels: list[int] = field(default_factory=lambda: [16, 32, 32, 64],
                                metadata=spec("channels of the four convolution layers", length=4))
    decoder: Literal["broadcast", "deconv"] = field(default="broadcast", metadata=spec(
        "broadcast: spatial broadcast decoder (latent distance follows scene distance); deconv: transposed "
        "convolutions mirroring the encoder"))


def _spatial_sizes(size: int, layers: int) -> list[int]:
    sizes = [size]
    for _ in range(layers):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)  # kernel 4, stride 2, padding 1
    return sizes


class ConvVAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        ch = [3, *cfg.channels]
        self.sizes = _spatial_sizes(cfg.image_size, len(cfg.channels))
        enc = []
        for a, b in zip(ch[:-1], ch[1:]):
            enc += [nn.Conv2d(a, b, 4, 2, 1), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        flat = ch[-1] * self.sizes[-1] ** 2
        self.to_mean = nn.Linear(flat, cfg.latent_dim)
        self.to_logvar = nn.Linear(flat, cfg.latent_dim)
        if cfg.decoder == "broadcast":
            self.decoder = SpatialBroadcastDecoder(cfg.latent_dim, cfg.image_size)
            return
        self.from_latent = nn.Linear(cfg.latent_dim, flat)
        dec = []
        rev = ch[::-1]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            size_in, size_out = self.sizes[-1 - i], self.sizes[-2 - i]
            dec.append(nn.ConvTranspose2d(a, b, 4, 2, 1, output_padding=size_out - 2 * size_in))
            dec.append(nn.ReLU() if i < len(rev) - 2 else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.to_mean(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.cfg.decoder == "broadcast":
            return self.decoder(z)
        c = self.cfg.channels[-1]
        s = self.sizes[-1]
        return self.decoder(self.from_latent(z).view(-1, c, s, s))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        return self.decode(z), mean, logvar

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, reconstruction, KL), each averaged over the batch; reconstruction summed over pixels."""
        recon, mean, logvar = self(x)
        rec = ((recon - x) ** 2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mean**2 - logvar.exp()).sum(1)).mean()
        return rec + self.cfg.beta * kl, rec, kl


_ONEDNN_MIN_BATCH = 1  # single images run on PyTorch's native convolutions (see Encoder.encode)


class Encoder:
    """What the policy and the nodes use: uint8 RGB images in, encoder-mean latents out (numpy, no gradients)."""

    def __init__(self, vae: ConvVAE, prior: LatentPrior, preprocess: PreprocessConfig):
        self.vae = vae.eval()
        self.prior = prior
        self.preprocess = preprocess

    @property
    def latent_dim(self) -> int:
        return self.vae.cfg.latent_dim

    @property
    def device(self) -> torch.device:
        """Where the VAE runs (``load_checkpoint``'s ``device``); images and latents go in and out as numpy."""
        return next(self.vae.parameters()).device

    @torch.inference_mode()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Model-sized RGB uint8 images (N x H x W x 3, or one image) -> float32 latents (N x latent_dim)."""
        x = torch.from_numpy(to_model_input(images)).to(self.device)
        size = self.vae.cfg.image_size
        if x.shape[-1] != size or x.shape[-2] != size:
            raise ValueError(f"the encoder takes {size} x {size} images, got {x.shape[-1]} x {x.shape[-2]}; "
                             "run them through perception.preprocessing.preprocess first")
        # oneDNN's convolutions cost about 0.1 ms of set-up each at batch 1 (encoder 0.51 ms, against 0.34 ms with
        # PyTorch's own kernels); from batch 2 on, oneDNN is as fast or faster (batch 4: 0.94 against 1.29 ms).
        onednn = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = onednn and len(x) > _ONEDNN_MIN_BATCH
        try:
            return self.vae.to_mean(self.vae.encoder(x)).cpu().numpy()  # the mean only, not the log-variance
        finally:
            torch.backends.mkldnn.enabled = onednn

    @torch.inference_mode()
    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Latents -> RGB uint8 images (N x H x W x 3)."""
        z = torch.as_tensor(np.asarray(latents, np.float32), device=self.device).reshape(-1, self.latent_dim)
        x = self.vae.decode(z)
        return (x.permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


# ---- checkpoints --------------------------------------------------------------------------------------------

WEIGHTS, CONFIG, TAG = "vae.safetensors", "vae.yaml", "rigbot_vae_config"


def save_checkpoint(directory: str | Path, vae: ConvVAE, prior: LatentPrior, preprocess: PreprocessConfig,
                    info: dict | None = None) -> Path:
    """Write weights + prior (safetensors) and config (YAML), each atomically (temp file, then rename)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"vae": config.to_dict(vae.cfg), "preprocess": config.to_dict(preprocess), "info": info or {}}
    tensors = dict(vae.state_dict())
    tensors["prior.mean"] = torch.as_tensor(prior.mean, dtype=torch.float64)
    tensors["prior.cov"] = torch.as_tensor(prior.cov, dtype=torch.float64)
    save_weights(directory / WEIGHTS, tensors, cfg["vae"], TAG)
    atomic_write_text(directory / CONFIG, config.dump_yaml(cfg, sort_keys=False))
    return directory


def load_checkpoint(directory: str | Path, device=None) -> Encoder:
    """The encoder (VAE + prior + preprocessing) saved in ``directory``, on ``device`` (a ``torch.device``; None:
    the CPU); refuses files that do not match."""
    directory = Path(directory)
    weights, cfg_path = directory / WEIGHTS, directory / CONFIG
    for p in (weights, cfg_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; a VAE checkpoint folder holds {WEIGHTS} and {CONFIG}")
    raw = config.read_yaml(cfg_path)
    if not isinstance(raw, dict) or "vae" not in raw:
        raise ConfigError(f"{cfg_path}: not a rigbot VAE config (no 'vae' section)")
    saved = raw["vae"]
    legacy = isinstance(saved, dict) and "decoder" not in saved  # written before the decoder was a choice
    vae_cfg = config.from_dict(VAEConfig, {**saved, "decoder": "deconv"} if legacy else saved, source=str(cfg_path),
                               prefix="vae.")
    pre_cfg = config.from_dict(PreprocessConfig, raw.get("preprocess") or {}, source=str(cfg_path), prefix="preprocess.")
    written = config.to_dict(vae_cfg)
    if legacy:
        del written["decoder"]
    # the header is checked against the config, and its shapes against the network's (built on the meta device),
    # before the network is built: a vae.yaml asking for huge channels costs nothing to refuse
    dim = vae_cfg.latent_dim

    def shapes():
        return {**expected_shapes(lambda: ConvVAE(vae_cfg)),
                "prior.mean": ((dim,), "F64"), "prior.cov": ((dim, dim), "F64")}
    tensors = load_weights(weights, written, TAG, shapes, cfg_source=str(cfg_path))
    vae = ConvVAE(vae_cfg)
    vae.load_state_dict({k: tensors[k] for k in vae.state_dict()})
    try:
        prior = LatentPrior(tensors["prior.mean"].numpy(), tensors["prior.cov"].numpy())
    except (ValueError, np.linalg.LinAlgError) as e:  # e.g. a covariance that is not positive definite
        raise WeightsFileError(f"{weights}: its latent prior is unusable: {e}") from None
    return Encoder(vae if device is None else vae.to(device), prior, pre_cfg)
