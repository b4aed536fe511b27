"""rigbot vae train: the beta-VAE that encodes camera images."""
from __future__ import annotations

from pathlib import Path

from rigbot.cli.train import add_device_argument


def cmd_vae_train(args) -> int:
    """Train the beta-VAE on a frame dataset."""
    import numpy as np

    from rigbot import config
    from rigbot.devices import resolve_device
    from rigbot.perception.frame_dataset import load_frames, read_meta
    from rigbot.perception.latent_geometry import distance_rank_correlation
    from rigbot.perception.vae import VAEConfig, load_checkpoint
    from rigbot.perception.vae_training import train_vae

    device = resolve_device(args.device)  # first: a missing GPU is refused before the data is read
    meta = read_meta(args.data)
    cfg = config.validate(VAEConfig(image_size=meta["image_size"], latent_dim=args.latent_dim, beta=args.beta,
                                    decoder=args.decoder), source="command line")
    data = load_frames(args.data, max_frames=args.max_frames)
    print(f"training a beta-VAE (latent {cfg.latent_dim}, beta {cfg.beta}, {cfg.decoder} decoder) on "
          f"{len(data['images'])} frames of {args.data}")
    history = train_vae(data["images"], args.out, cfg, epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr, seed=args.seed, device=device)
    print(f"held-out reconstruction MSE {history['val_mse'][-1]:.5f}; checkpoint in {args.out}; "
          f"look at {Path(args.out) / 'vae_grid.png'}")
    pick = np.random.default_rng(args.seed).permutation(len(data["images"]))[:2000]
    rho = distance_rank_correlation(load_checkpoint(args.out).encode(data["images"][pick]),
                                    data["observations"][pick, :3])
    print(f"latent distance against hand distance: Spearman {rho:.2f} over pairs of these frames (1: ranked alike; "
          "RIG rewards latent distance, so it needs this high)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("vae", help="train the beta-VAE that encodes camera images",
                       description="Train the image encoder on a dataset made by 'rigbot collect'.")
    vae = p.add_subparsers(dest="vae_command", metavar="ACTION", required=True)
    t = vae.add_parser("train", help="train on a frame dataset; writes a checkpoint and vae_grid.png",
                       description="Train a convolutional beta-VAE with a held-out split; writes vae.safetensors, "
                                   "vae.yaml and vae_grid.png (originals / reconstructions / prior samples).")
    t.add_argument("--data", required=True, metavar="DIR", help="dataset folder from 'rigbot collect'")
    t.add_argument("--out", default="checkpoints/vae", metavar="DIR", help="checkpoint folder")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument("--latent-dim", type=int, default=16, help="latent size, 4 to 64 (default 16)")
    t.add_argument("--beta", type=float, default=0.5, help="weight of the KL term (default 0.5)")
    t.add_argument("--decoder", choices=["broadcast", "deconv"], default="broadcast",
                   help="broadcast (default): spatial broadcast decoder, whose latent distance follows scene distance; "
                        "deconv: transposed convolutions mirroring the encoder")
    t.add_argument("--max-frames", type=int, help="use at most this many frames")
    t.add_argument("--seed", type=int, default=0)
    add_device_argument(t, "the VAE trains")
    t.set_defaults(func=cmd_vae_train)
