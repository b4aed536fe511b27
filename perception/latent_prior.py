"""The prior RIG imagines goals from: a Gaussian with full covariance fitted to the encoder means of the data.

A standard normal N(0, I) is the VAE's nominal prior, but the encoded data rarely fills it; sampling goals from
the fitted Gaussian keeps imagined goals where real scenes are.
"""
from __future__ import annotations

import numpy as np


class LatentPrior:
    def __init__(self, mean: np.ndarray, cov: np.ndarray):
        mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
        if mean.ndim != 1 or cov.shape != (len(mean), len(mean)):
            raise ValueError(f"prior mean {mean.shape} and covariance {cov.shape} do not match")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise ValueError("prior mean or covariance is not finite")
        self.mean, self.cov = mean, cov
        # A small jitter keeps the Cholesky factor defined when some latent dimensions are unused (collapsed).
        self._chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(mean)))

    @classmethod
    def fit(cls, latents: np.ndarray) -> "LatentPrior":
        latents = np.asarray(latents, np.float64)
        if latents.ndim != 2 or len(latents) < 2:
            raise ValueError(f"need at least two latent vectors to fit a prior, got shape {latents.shape}")
        return cls(latents.mean(0), np.cov(latents, rowvar=False))

    @classmethod
    def standard(cls, dim: int) -> "LatentPrior":
        return cls(np.zeros(dim), np.eye(dim))

    @property
    def dim(self) -> int:
        return len(self.mean)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` latent vectors (float32, n x dim)."""
        return (self.mean + rng.standard_normal((n, self.dim)) @ self._chol.T).astype(np.float32)
