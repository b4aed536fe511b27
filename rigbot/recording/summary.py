"""What a recording (or a frame dataset) holds: a text summary and a contact sheet of its frames over time.

Rates and gaps are computed from arrival times (the MCAP log time), so a summary reads no message bodies. A gap
is a pause longer than ``max(gap_floor, 5 x the topic's median period)``: a camera at 30 Hz that stalls 0.5 s,
or a recorder that was stopped and restarted into the same dataset.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rigbot import media
from rigbot.recording import rosbag2_metadata
from rigbot.recording.image_messages import BadImageMessage, image_to_rgb, stamp_ns
from rigbot.recording.mcap_reading import FileReport, expect_type, read_recording


def is_frame_dataset(path: str | Path) -> bool:
    return (Path(path) / "meta.yaml").is_file()


def summarize(path: str | Path, gap_floor: float = 0.5) -> dict:
    """Counts, rates, duration, gaps and files of a recording; frames and episodes of a frame dataset."""
    path = Path(path)
    if is_frame_dataset(path):
        return _summarize_dataset(path)
    reports: list[FileReport] = []
    times: dict[str, list[int]] = {}
    types: dict[str, str] = {}
    for m in read_recording(path, reports=reports):
        times.setdefault(m.topic, []).append(m.log_time)
        types[m.topic] = m.type
    topics = {}
    for topic, ts in times.items():
        t = np.sort(np.asarray(ts, np.int64)) * 1e-9
        dt = np.diff(t)
        median = float(np.median(dt)) if len(dt) else 0.0
        limit = max(gap_floor, 5 * median)
        topics[topic] = {"type": types[topic], "count": len(t), "first": float(t[0]), "last": float(t[-1]),
                         "rate_hz": (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0,
                         "largest_gap_s": float(dt.max()) if len(dt) else 0.0,
                         "gaps": int(np.sum(dt > limit)), "gap_limit_s": limit}
    start = min((v["first"] for v in topics.values()), default=0.0)
    end = max((v["last"] for v in topics.values()), default=0.0)
    meta = rosbag2_metadata.read(path) if path.is_dir() else None
    refused = {k: v for k, v in ((meta or {}).get("custom_data") or {}).items() if k.startswith("refused")}
    return {"kind": "recording", "path": str(path), "duration_s": end - start, "start": start,
            "messages": sum(v["count"] for v in topics.values()), "topics": topics, "refused": refused,
            "files": [{"name": r.path.name, "bytes": r.size, "complete": r.complete, "messages": r.messages,
                       "lost_bytes": r.lost_bytes, "note": r.stopped} for r in reports]}


def _summarize_dataset(path: Path) -> dict:
    from rigbot.perception.frame_dataset import _chunks, read_chunk, read_meta

    meta = read_meta(path)
    episodes = []
    for chunk in _chunks(path):  # every chunk checked as training would check it (images by their headers)
        arrays = read_chunk(chunk, meta["image_size"], ("observations", "achieved_goals", "episodes", "steps"))
        episodes.append(arrays["episodes"])
    ep = np.concatenate(episodes) if episodes else np.zeros(0, np.int64)
    lengths = np.unique(ep, return_counts=True)[1]
    return {"kind": "frame dataset", "path": str(path), "task": meta.get("task"),
            "image_size": meta.get("image_size"), "frames": int(len(ep)), "episodes": int(len(lengths)),
            "episode_length": {"min": int(lengths.min()) if len(lengths) else 0,
                               "median": float(np.median(lengths)) if len(lengths) else 0.0,
                               "max": int(lengths.max()) if len(lengths) else 0},
            "chunks": len(episodes), "source": meta.get("source", meta.get("policy", ""))}


def format_summary(s: dict) -> str:
    if s["kind"] == "frame dataset":
        e = s["episode_length"]
        return (f"{s['path']}: frame dataset, task {s['task']}, {s['image_size']} x {s['image_size']} images\n"
                f"  {s['frames']} frames in {s['episodes']} episodes (length min {e['min']}, median {e['median']:g}, "
                f"max {e['max']}), {s['chunks']} chunk files\n  source: {s['source']}")
    lines = [f"{s['path']}: recording of {s['duration_s']:.1f} s, {s['messages']} messages, {len(s['files'])} files",
             f"  {'topic':<40} {'type':<28} {'count':>7} {'rate Hz':>8} {'largest gap s':>14} {'gaps':>5}"]
    for topic, v in sorted(s["topics"].items()):
        lines.append(f"  {topic:<40} {v['type']:<28} {v['count']:>7} {v['rate_hz']:>8.2f} "
                     f"{v['largest_gap_s']:>14.3f} {v['gaps']:>5}")
    lines.append("  files:")
    for f in s["files"]:
        state = "complete" if f["complete"] else f"CUT SHORT, {f['lost_bytes']} bytes at its end unreadable ({f['note']})"
        lines.append(f"    {f['name']:<32} {f['bytes'] / 1e6:>9.2f} MB {f['messages']:>7} messages  {state}")
    for k, v in s["refused"].items():
        lines.append(f"  the recorder {k}: {v} messages")
    return "\n".join(lines)


def contact_sheet(path: str | Path, out: str | Path, count: int = 16, columns: int = 4,
                  image_topic: str = "/camera/camera/color/image_raw", tile: int = 144) -> Path:
    """A PNG grid of ``count`` frames sampled evenly over the recording (or dataset), each labelled with its
    time since the start (or its episode and step)."""
    path = Path(path)
    images, labels = [], []
    if is_frame_dataset(path):
        from rigbot.perception.frame_dataset import load_frames

        frames = load_frames(path)
        for i in np.unique(np.linspace(0, len(frames["images"]) - 1, count).round().astype(int)):
            images.append(frames["images"][i])
            labels.append(f"ep {frames['episodes'][i]} step {frames['steps'][i]}")
        title = f"{path.name}: {len(frames['images'])} frames"
    else:
        times = [m.log_time for m in read_recording(path, [image_topic])]
        if not times:
            raise ValueError(f"{path}: no images on {image_topic} to draw")
        wanted = set(np.unique(np.linspace(0, len(times) - 1, count).round().astype(int)).tolist())
        start = None
        for i, m in enumerate(read_recording(path, [image_topic])):
            if i not in wanted:
                continue
            expect_type(m, ("sensor_msgs/msg/Image",), "camera images")
            msg = m.decode()
            start = stamp_ns(msg) if start is None else start
            try:
                images.append(image_to_rgb(msg))
            except BadImageMessage as e:
                raise ValueError(f"{path}: image {i} on {image_topic} cannot be drawn: {e}") from None
            labels.append(f"t = {(stamp_ns(msg) - start) * 1e-9:.1f} s")
        title = f"{path.name}: {len(times)} images on {image_topic}, over {(times[-1] - times[0]) * 1e-9:.1f} s"
    tiles = [media.label(_fit(im, tile), text) for im, text in zip(images, labels)]
    h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, w - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.full((h, w, 3), 255, np.uint8))
    pad = lambda t: np.pad(t, ((3, 3), (3, 3), (0, 0)), constant_values=255)  # noqa: E731
    rows = [np.hstack([pad(t) for t in tiles[r:r + columns]]) for r in range(0, len(tiles), columns)]
    return media.write_png(out, media.label(np.vstack(rows), title))


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """Scale an image so its longer side is about ``side`` pixels (square pixels for small camera images)."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return media.upscale(image, int(side * h / max(h, w)))
    s = side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
