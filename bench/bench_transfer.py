"""Twin-to-robot transfer in the twin: how much fine-tuning data closes the gap to a look never trained on.

1. Two RIG reach policies (reused when ``OUT`` holds them): one trained in the randomised twin
   (``rigbot train --randomize``, OUT/twin_dr), one in the modelled look only (OUT/twin_nominal), for reference.
2. The twin's held-out look (``appearance: heldout``, outside every randomisation range) stands in for the real
   camera. Frames of it are recorded with ``rigbot collect``'s exploration, written as an MCAP recording and
   converted back with ``rigbot dataset convert`` (so they reach fine-tuning as a robot's recordings would:
   camera images and hand poses, nothing else).
3. ``rigbot finetune`` (the twin-anchored VAE fine-tuning) on the first N of them, for each N of ``--amounts``;
   and, for comparison, the VAE's own loss alone (``--anchor none``) on the ``--ablation`` amount.
4. Each policy folder is evaluated on the same evaluation seeds in the held-out look, the randomised looks and the
   modelled look (held-out and modelled episodes have the very same starts and goals; the randomised look draws
   its appearance first, so its goals differ). The VAE is scored on held-out-look test frames never fine-tuned on
   (reconstruction error; latent error and twin latent drift: distances to the old encoder's latents of the same
   scenes in the twin, in units of the distance between two random scenes' latents).

Writes OUT/transfer.json, OUT/transfer.md (the table) and OUT/transfer.png; prints the table.

    python bench/bench_transfer.py          # about 50 min of CPU: training 17 + 20, then 12 to fine-tune and evaluate
    python bench/bench_transfer.py --policies randomised --amounts 0 100 300 --episodes 50   # with a trained one
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

import rigbot.sim as sim
from rigbot import media
from rigbot.perception.anchored_finetuning import AnchoredFinetuneConfig, render_twin_pairs, transfer_metrics
from rigbot.perception.collect import collect
from rigbot.perception.frame_dataset import count_frames, load_frames
from rigbot.perception.vae import load_checkpoint
from rigbot.plots import line_plot
from rigbot.policy.weights.checkpoint import load_policy
from rigbot.policy.training.evaluation import evaluate
from rigbot.policy.training.observations import LatentView
from rigbot.policy.training.pipeline import train_pipeline
from rigbot.policy.training.transfer import finetune_checkpoint
from rigbot.recording.dataset_conversion import frames_to_recording, recording_to_frames

LOOKS = {"held-out": {"appearance": "heldout"}, "training (randomised)": {"randomize": True}, "modelled": {}}


POLICIES = {"randomised": True, "modelled": False}  # the twin a base policy is trained in: domain randomisation?


def twin_policy(args, out: Path, name: str) -> Path:
    """A base policy: reused when complete, trained (or a killed training resumed) otherwise."""
    from rigbot import config

    randomize = POLICIES[name]
    ckpt = out / ("twin_dr" if randomize else "twin_nominal")
    if (ckpt / "policy.yaml").is_file():
        trained = int(config.read_yaml(ckpt / "policy.yaml").get("trained_env_steps", 0))
        if trained >= args.env_steps:
            print(f"reusing the {name}-twin policy in {ckpt} ({trained} environment steps)", flush=True)
            return ckpt
    print(f"training a RIG reach policy in the {name} twin into {ckpt} ...", flush=True)
    train_pipeline("reach", ckpt, seed=args.seed, env_steps=args.env_steps, frames=args.frames,
                   vae_epochs=args.vae_epochs, resume=True, progress=False, randomize=randomize,
                   rig_overrides={"updates_per_step": args.updates_per_step})
    return ckpt


def heldout_dataset(out: Path, frames: int, seed: int) -> Path:
    """Held-out-look exploration frames, passed through an MCAP recording and 'rigbot dataset convert'."""
    converted = out / "heldout_converted"
    if count_frames(converted) >= frames:
        return converted
    for p in (out / "heldout_collected", out / "heldout_recording", converted):
        shutil.rmtree(p, ignore_errors=True)
    collect("reach", frames, out / "heldout_collected", seed=seed, appearance="heldout", progress=False)
    frames_to_recording(out / "heldout_collected", out / "heldout_recording")
    report = recording_to_frames(out / "heldout_recording", converted, rate=10.0)
    print(f"held-out look: {frames} frames collected, recorded to MCAP and converted back: {report['frames']} "
          f"frames in {report['episodes']} episodes", flush=True)
    return converted


def evaluate_folder(folder: Path, episodes: int) -> dict:
    policy = load_policy(folder)
    out = {}
    for look, kw in LOOKS.items():
        env = sim.make("reach", image_size=policy.image_size, **kw)
        try:
            r = evaluate(policy.act, env, LatentView(policy.encoder), episodes)
        finally:
            env.close()
        out[look] = {"success": r["success_rate"], "hand_cm_mean": 100 * r["hand_distance_mean"],
                     "hand_cm_median": 100 * r["hand_distance_median"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/transfer")
    parser.add_argument("--policies", nargs="+", choices=list(POLICIES), default=list(POLICIES),
                        help="base policies: trained in the randomised twin (OUT/twin_dr) and in the modelled look "
                             "only (OUT/twin_nominal); each reused if trained, trained if not")
    parser.add_argument("--frames", type=int, default=6000, help="exploration frames for a twin VAE")
    parser.add_argument("--vae-epochs", type=int, default=15)
    parser.add_argument("--env-steps", type=int, default=20000)
    parser.add_argument("--updates-per-step", type=int, default=2)
    parser.add_argument("--amounts", type=int, nargs="+", default=[0, 100, 300, 1000, 3000],
                        help="held-out-look frames recorded for fine-tuning (10 %% of episodes are held out)")
    parser.add_argument("--ablation", type=int, default=1000, help="amount also fine-tuned with --anchor none "
                        "(0: skip)")
    parser.add_argument("--test-frames", type=int, default=300, help="held-out-look frames for the VAE scores")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per look")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--min-updates", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine's 2 cores are shared
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    checkpoints = {name: twin_policy(args, out, name) for name in args.policies}
    train_s = time.perf_counter() - start
    data = heldout_dataset(out, max(args.amounts), seed=args.seed + 1)
    test = out / "heldout_test"
    if count_frames(test) < args.test_frames:
        shutil.rmtree(test, ignore_errors=True)
        collect("reach", args.test_frames, test, seed=args.seed + 2, appearance="heldout", progress=False)
    test_frames = load_frames(test, max_frames=args.test_frames)
    test_twin = render_twin_pairs("reach", test_frames["observations"][:, :3], 48)

    rows = []
    for name, ckpt in checkpoints.items():
        reference = load_checkpoint(ckpt / "vae")
        runs = [(n, "twin") for n in args.amounts] + ([(args.ablation, "none")] if args.ablation else [])
        for n, anchor in runs:
            t0 = time.perf_counter()
            folder, train_frames, updates = ckpt, 0, 0
            if n > 0:
                folder = out / f"{ckpt.name}_finetuned_{anchor}_{n}"
                shutil.rmtree(folder, ignore_errors=True)
                cfg = AnchoredFinetuneConfig(epochs=args.epochs, min_updates=args.min_updates, anchor=anchor)
                report = finetune_checkpoint(ckpt, data, folder, cfg, max_frames=n, seed=args.seed, progress=False)
                train_frames, updates = report["train_frames"], report["training"]["updates"]
            finetune_s = time.perf_counter() - t0
            scores = transfer_metrics(load_checkpoint(folder / "vae"), reference, test_frames["images"], test_twin)
            looks = evaluate_folder(folder, args.episodes)
            row = {"policy": name, "frames": n, "anchor": anchor if n else "-", "train_frames": train_frames,
                   "updates": updates, "finetune_s": round(finetune_s, 1),
                   **{k: round(v, 5) for k, v in scores.items()}, "looks": looks}
            rows.append(row)
            h = looks["held-out"]
            print(f"{name} twin policy, {n:>5} frames ({row['anchor']}): held-out look success {h['success']:.0%}, "
                  f"hand {h['hand_cm_mean']:.1f} cm; recon MSE {scores['reconstruction_mse']:.4f}, latent error "
                  f"{scores['latent_error']:.3f}, twin drift {scores['twin_drift']:.3f} ({finetune_s:.0f} s)",
                  flush=True)

    table = format_table(rows, args.episodes)
    print("\n" + table)
    result = {"args": vars(args), "checkpoints": {k: str(v) for k, v in checkpoints.items()},
              "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - start, 1), "rows": rows}
    (out / "transfer.json").write_text(json.dumps(result, indent=1))
    (out / "transfer.md").write_text(table + "\n")
    plot(rows, out / "transfer.png")
    print(f"\n{out / 'transfer.md'}, {out / 'transfer.json'}, {out / 'transfer.png'}; "
          f"{result['total_s'] / 60:.1f} min in all")


def format_table(rows: list[dict], episodes: int) -> str:
    head = ("| policy trained in | held-out-look frames | anchor | success, held-out look | hand cm (mean), held-out "
            "| success, randomised looks | success, modelled look | recon MSE, held-out | latent error, held-out | "
            "latent shape error, held-out | twin latent drift |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        h, t, m = r["looks"]["held-out"], r["looks"]["training (randomised)"], r["looks"]["modelled"]
        lines.append(f"| {r['policy']} twin | {r['frames']:,} | {r['anchor']} | {h['success']:.0%} | "
                     f"{h['hand_cm_mean']:.1f} | {t['success']:.0%} | {m['success']:.0%} | "
                     f"{r['reconstruction_mse']:.4f} | {r['latent_error']:.3f} | {r['latent_shape_error']:.3f} | "
                     f"{r['twin_drift']:.3f} |")
    lines.append(f"\n{episodes} evaluation episodes per look (the same seeds); latent errors and drift in units "
                 "of the distance between two random scenes' latents; the shape error leaves out the mean offset.")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> Path:
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    amounts = [r["frames"] for r in rows if r["policy"] == policies[0] and r["anchor"] in ("twin", "-")]
    x = np.arange(len(amounts), dtype=float)  # evenly spaced amounts; the axis label says which
    xlabel = "fine-tuning frames (" + ", ".join(f"{i}: {n:,}" for i, n in enumerate(amounts)) + ")"

    def series(key, look=None, scale=1.0):
        out = {}
        for p in policies:
            anchored = [r for r in rows if r["policy"] == p and r["anchor"] in ("twin", "-")]
            out[p] = (x[:len(anchored)], [scale * (r["looks"][look]["success"] if look else r[key])
                                          for r in anchored])
        return out

    ablation = {f"{r['policy']} twin, {r['frames']:,} frames, no anchor": r["looks"]["held-out"]["success"]
                for r in rows if r["anchor"] == "none"}
    success = {f"{p} twin policy: held-out look": v for p, v in series(None, "held-out").items()}
    success.update({f"{p} twin policy: modelled look": v for p, v in series(None, "modelled").items()})
    panels = [line_plot(success, "reach: success rate after fine-tuning on held-out-look frames", xlabel,
                        "success rate", y_range=(0, 1.4), hlines=ablation, size=(760, 460))]  # legend above 1
    latent = {f"{p} twin VAE: latent error": v for p, v in series("latent_error").items()}
    latent.update({f"{p} twin VAE: twin drift": v for p, v in series("twin_drift").items()})
    top = 1.6 * max(max(v[1]) for v in latent.values())
    panels.append(line_plot(latent, "latents of held-out-look test frames (1 = a random scene's)", xlabel,
                            "latent error", y_range=(0, top), size=(760, 360)))
    recon = {f"{p} twin VAE": v for p, v in series("reconstruction_mse", scale=1000).items()}
    top = 1.5 * max(max(v[1]) for v in recon.values())
    panels.append(line_plot(recon, "reconstruction of held-out-look test frames", xlabel, "MSE x 1000",
                            y_range=(0, top), size=(760, 360)))
    return media.write_png(path, np.vstack(panels))


if __name__ == "__main__":
    main()
