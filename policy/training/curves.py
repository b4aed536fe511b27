"""Learning curves: the evaluation rows of a run as curve.csv, curve.json and learning_curve.png, and reading
them back (``rigbot eval`` redraws them next to its results)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rigbot import media
from rigbot.files import atomic_write_text
from rigbot.plots import line_plot


def write_curve(out: Path, curve: list[dict], random_baseline: dict | None, title: str,
                success_threshold: float = 0.05, timing: dict | None = None, x_key: str = "env_steps") -> None:
    """curve.csv, curve.json and learning_curve.png (success rate and final distances against ``x_key``:
    environment steps, or gradient updates for offline agents)."""
    out.mkdir(parents=True, exist_ok=True)
    keys = list(curve[0])
    lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in curve]
    atomic_write_text(out / "curve.csv", "\n".join(lines) + "\n")
    atomic_write_text(out / "curve.json", json.dumps({"curve": curve, "random_policy": random_baseline,
                                                      "timing_s": timing, "x_key": x_key}, indent=1))
    x = np.array([r[x_key] for r in curve])
    xlabel = x_key.replace("env_steps", "environment steps").replace("_", " ")
    success = line_plot({"success rate": (x, [r["success_rate"] for r in curve])}, f"{title}: success rate",
                        xlabel, "success rate", y_range=(0, 1),
                        hlines={"random policy": random_baseline["success_rate"]} if random_baseline else None)
    dists = {k.replace("_distance_median", " distance (median), cm"): (x, [100 * r[k] for r in curve])
             for k in keys if k.endswith("_distance_median")}
    ref = {f"random: {k.split('_')[0]}": 100 * v for k, v in (random_baseline or {}).items()
           if k.endswith("_distance_median")}
    distance = line_plot(dists, f"{title}: final distance to goal", xlabel, "cm",
                         hlines={**ref, "success threshold": 100 * success_threshold})
    media.write_png(out / "learning_curve.png", np.vstack([success, distance]))


def read_curve(out: str | Path) -> dict:
    path = Path(out) / "curve.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no learning curve; was {out} made by 'rigbot train'?")
    return json.loads(path.read_text())
