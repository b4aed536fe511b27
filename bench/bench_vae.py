"""VAE quality and speed on the twin's reach task.

    python bench/bench_vae.py [--frames 10000] [--epochs 20] [--decoder broadcast|deconv] [--out DIR] [--reuse]

Collects exploration frames (48 x 48), trains the beta-VAE, and prints: held-out reconstruction error; the
Spearman rank correlation between latent distance (encoder means) and true hand distance over random held-out
pairs (target >= 0.9); encoder latency at batch 1 on one thread (target p50 <= 0.5 ms, p99 <= 2 ms); and
training images/s; and writes OUT/latent_distance.png, latent distance against hand distance (with ``--compare``,
other VAEs beside it).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from rigbot import media
from rigbot.perception.collect import collect
from rigbot.perception.frame_dataset import load_frames
from rigbot.perception.latent_geometry import distance_rank_correlation, pair_distances
from rigbot.perception.vae import VAEConfig, load_checkpoint
from rigbot.perception.vae_training import evaluate, train_vae
from rigbot.plots import line_plot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--decoder", default="broadcast", choices=["broadcast", "deconv"])
    parser.add_argument("--out", default="bench/results/vae")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the VAE already in OUT/vae instead of training it again")
    parser.add_argument("--compare", nargs="*", default=[], metavar="VAE_DIR",
                        help="other VAE checkpoints to draw beside this one in latent_distance.png")
    args = parser.parse_args()
    out = Path(args.out)
    data_dir = out / "data"
    if not (data_dir / "meta.yaml").exists():
        collect("reach", args.frames, data_dir, seed=0)
    data = load_frames(data_dir, max_frames=args.frames)
    n_test = len(data["images"]) // 10
    train, test = data["images"][:-n_test], data["images"][-n_test:]
    hands = data["observations"][-n_test:, :3]
    history = None
    if not (args.reuse and (out / "vae" / "vae.yaml").is_file()):
        cfg = VAEConfig(latent_dim=args.latent_dim, beta=args.beta, decoder=args.decoder)
        history = train_vae(train, out / "vae", cfg, epochs=args.epochs, seed=0)
    enc = load_checkpoint(out / "vae")
    z = enc.encode(test)
    rho = distance_rank_correlation(z, hands)
    profiles = {}
    for folder in [out / "vae", *args.compare]:
        other = load_checkpoint(folder)
        zz = other.encode(test)
        profiles[f"{other.vae.cfg.decoder} decoder, Spearman {distance_rank_correlation(zz, hands):.2f}"] = \
            distance_profile(zz, hands)
    media.write_png(out / "latent_distance.png", line_plot(
        profiles, "latent distance against hand distance (held-out pairs, medians)",
        "hand distance, cm", "latent distance / its 20-30 cm median"))

    torch.set_num_threads(1)
    one = test[:1]
    for _ in range(100):
        enc.encode(one)
    times = []
    for k in range(2000):
        t = time.perf_counter()
        enc.encode(test[k % n_test:k % n_test + 1])
        times.append(time.perf_counter() - t)
    p50, p99 = np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3
    print(f"frames: {len(train)} train, {n_test} held out (reach, 48x48)")
    print(f"held-out reconstruction MSE: {evaluate(enc.vae, test):.5f} (per pixel channel, 0..1 scale)")
    print(f"Spearman(latent distance, hand distance): {rho:.3f}   target >= 0.9")
    print(f"encoder latency, batch 1, 1 thread: p50 {p50:.3f} ms, p99 {p99:.3f} ms   target p50 <= 0.5, p99 <= 2")
    if history:
        print(f"training: median {np.median(history['images_per_s']):.0f} images/s")


def distance_profile(z: np.ndarray, hands: np.ndarray, pairs: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """Median latent distance in 2.5 cm bins of hand distance, divided by its median over 20-30 cm pairs: a
    faithful latent keeps rising; one that has curled the table up flattens out."""
    latent, hand = pair_distances(z, hands, pairs)
    hand = hand * 100
    edges = np.arange(0.0, 47.5, 2.5)
    centres, medians = [], []
    for lo in edges:
        inside = (hand >= lo) & (hand < lo + 2.5)
        if inside.sum() >= 20:
            centres.append(lo + 1.25)
            medians.append(np.median(latent[inside]))
    scale = np.median(latent[(hand >= 20) & (hand < 30)])
    return np.array(centres), np.array(medians) / scale


if __name__ == "__main__":
    main()
