"""``rigbot finetune``: carry a twin-trained policy to a real camera by fine-tuning its VAE on recorded frames."""
from __future__ import annotations

import argparse

from rigbot.cli.train import add_device_argument


def cmd_finetune(args) -> int:
    from rigbot import config
    from rigbot.devices import resolve_device
    from rigbot.perception.anchored_finetuning import AnchoredFinetuneConfig
    from rigbot.policy.training.transfer import finetune_checkpoint

    device = resolve_device(args.device)  # first: a missing GPU is refused before anything is read
    cfg = config.validate(AnchoredFinetuneConfig(epochs=args.epochs, min_updates=args.min_updates,
                                                 anchor=args.anchor, anchor_weight=args.anchor_weight),
                          source="command line")
    out = args.out or f"{str(args.checkpoint).rstrip('/')}_finetuned"
    print(f"fine-tuning the VAE of {args.checkpoint} on {args.data} (anchor: {cfg.anchor}) ...", flush=True)
    r = finetune_checkpoint(args.checkpoint, args.data, out, cfg, robot=args.robot, max_frames=args.max_frames,
                            seed=args.seed, progress=not args.quiet, device=device)
    b, a = r["heldout_before"], r["heldout_after"]
    print(f"{r['train_frames']} frames, {r['training']['updates']} updates, {r['training']['seconds']:.0f} s; "
          f"on {r['heldout_frames']} held-out frames:")
    print(f"{'':22}{'before':>10}{'after':>10}")
    for key, label in (("reconstruction_mse", "reconstruction MSE"), ("latent_error", "latent error"),
                       ("twin_drift", "twin latent drift")):
        print(f"{label:22}{b[key]:>10.4f}{a[key]:>10.4f}")
    print(f"policy folder: {out} (finetune.yaml, finetune.png)")
    print(f"next: rigbot eval --checkpoint {out}   or   rigbot weights init checkpoints/live --from {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "finetune", help="fine-tune a twin-trained policy's VAE on recorded frames of the real camera",
        description="Twin-to-robot transfer. Reads a policy folder trained in the twin (here plain 'rigbot train' "
                    "transferred better than --randomize: see the README) and a frame dataset of the camera's look "
                    "('rigbot dataset convert' of robot recordings). Each "
                    "frame is paired with the twin's rendering of the same hand position; the VAE is fine-tuned on "
                    "the frames with its own loss plus a term that pulls each frame's latent to the old encoder's "
                    "latent of its twin scene, so the latent space, and the policy on it, stay as they were. "
                    "Writes a new policy folder with the fine-tuned vae/ and finetune.yaml (latent error and "
                    "reconstruction on held-out frames, before and after).",
        epilog="examples:\n"
               "  rigbot dataset convert recordings/day1 data/day1\n"
               "  rigbot finetune --checkpoint checkpoints/reach_dr --data data/day1 --out checkpoints/reach_robot\n"
               "  rigbot collect reach --appearance heldout --frames 1000 --out data/heldout   # try it in the twin\n"
               "  rigbot eval --checkpoint checkpoints/reach_robot --appearance heldout",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/reach", metavar="DIR",
                   help="twin-trained policy folder (default: checkpoints/reach)")
    p.add_argument("--data", required=True, metavar="DIR", help="frame dataset of the new look (rigbot dataset "
                   "convert, or rigbot collect); its frames must hold the hand position")
    p.add_argument("--out", metavar="DIR", help="new policy folder (default: CHECKPOINT_finetuned); must not exist "
                   "or be empty")
    p.add_argument("--epochs", type=int, default=20, metavar="N", help="passes over the frames (default 20)")
    p.add_argument("--min-updates", type=int, default=400, metavar="N",
                   help="at least this many gradient steps, for small datasets (default 400)")
    p.add_argument("--anchor", choices=["twin", "none"], default="twin",
                   help="twin (default): keep latents where the policy knows them; none: the VAE loss alone")
    p.add_argument("--anchor-weight", type=float, default=100.0, metavar="W", help="weight of the latent anchor "
                   "(default 100)")
    p.add_argument("--robot", metavar="YAML", help="the twin's robot description, aligned to your camera "
                   "(default: the built-in arm)")
    p.add_argument("--max-frames", type=int, metavar="N", help="use at most N frames")
    p.add_argument("--seed", type=int, default=0)
    add_device_argument(p, "the VAE is fine-tuned")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_finetune)
