"""Does latent distance behave like scene distance? RIG rewards -||z - z_goal||, so it must, at least in rank.

The check: over random pairs of frames, the Spearman rank correlation between the distance of their latents and
the distance of what the robot should care about (the hand's position, from the twin's states or a recording's
stamped hand positions). 1 means the latent distance orders every pair as the true distance does.
"""
from __future__ import annotations

import numpy as np


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D samples (ties broken by order, fine for continuous data)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def pair_distances(latents: np.ndarray, positions: np.ndarray, pairs: int = 20000,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """||z_i - z_j|| and ||p_i - p_j|| over ``pairs`` random pairs (i != j; a few fewer than ``pairs``)."""
    latents, positions = np.asarray(latents, np.float64), np.asarray(positions, np.float64)
    if len(latents) != len(positions) or len(latents) < 3:
        raise ValueError(f"need as many positions as latents, at least 3; got {len(latents)} latents and "
                         f"{len(positions)} positions")
    i, j = np.random.default_rng(seed).integers(0, len(latents), (2, pairs))
    keep = i != j
    i, j = i[keep], j[keep]
    return np.linalg.norm(latents[i] - latents[j], axis=1), np.linalg.norm(positions[i] - positions[j], axis=1)


def distance_rank_correlation(latents: np.ndarray, positions: np.ndarray, pairs: int = 20000,
                              seed: int = 0) -> float:
    """Spearman correlation of ||z_i - z_j|| with ||p_i - p_j|| over ``pairs`` random pairs (i != j)."""
    return spearman(*pair_distances(latents, positions, pairs, seed))
