"""Line plots drawn with OpenCV (rigbot does not depend on a plotting library): learning curves and the like."""
from __future__ import annotations

import cv2
import numpy as np

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]  # RGB


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    step = 10 ** np.floor(np.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def line_plot(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, xlabel: str, ylabel: str,
              size: tuple[int, int] = (640, 400), y_range: tuple[float, float] | None = None,
              hlines: dict[str, float] | None = None) -> np.ndarray:
    """An RGB image of named (x, y) series with axes, ticks, a legend, and dashed reference lines ``hlines``."""
    w, h = size
    left, right, top, bottom = 84, 36, 36, 50
    img = np.full((h, w, 3), 255, np.uint8)
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()] or [np.zeros(1)])
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()] or [np.zeros(1)])
    ys = np.concatenate([ys, list((hlines or {}).values())])
    x0, x1 = (float(xs.min()), float(xs.max())) if len(xs) else (0.0, 1.0)
    y0, y1 = y_range if y_range else (float(np.nanmin(ys)), float(np.nanmax(ys)))
    if x1 <= x0:
        x1 = x0 + 1
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0) if y_range is None else 0.0
    y0, y1 = y0 - pad, y1 + pad

    def px(x, y):
        return (int(left + (x - x0) / (x1 - x0) * (w - left - right)),
                int(h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)))

    font = cv2.FONT_HERSHEY_SIMPLEX
    for t in _nice_ticks(y0, y1):
        p = px(x0, t)
        cv2.line(img, (left, p[1]), (w - right, p[1]), (230, 230, 230), 1)
        cv2.putText(img, f"{t:g}", (26, p[1] + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for t in _nice_ticks(x0, x1):
        p = px(t, y0)
        cv2.line(img, (p[0], h - bottom), (p[0], h - bottom + 4), (60, 60, 60), 1)
        cv2.putText(img, f"{t:g}", (p[0] - 12, h - bottom + 18), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (60, 60, 60), 1)
    for i, (name, value) in enumerate((hlines or {}).items()):
        y = px(x0, value)[1]
        for xa in range(left, w - right, 12):
            cv2.line(img, (xa, y), (min(xa + 6, w - right), y), (120, 120, 120), 1)
        cv2.putText(img, name, (w - right - 8 - 7 * len(name), y - 4), font, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    for i, (name, (x, y)) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = np.array([px(a, b) for a, b in zip(x, y) if np.isfinite(b)], np.int32)
        if len(pts) > 1:
            cv2.polylines(img, [pts], False, color, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, tuple(int(v) for v in p), 3, color, -1, cv2.LINE_AA)
    width = max((len(n) for n in series), default=0) * 8 + 44  # the legend, on white, above everything
    cv2.rectangle(img, (left + 4, top + 3), (left + width, top + 8 + 18 * len(series)), (255, 255, 255), -1)
    for i, name in enumerate(series):
        color = COLORS[i % len(COLORS)]
        ly = top + 16 + 18 * i
        cv2.line(img, (left + 10, ly - 4), (left + 30, ly - 4), color, 2)
        cv2.putText(img, name, (left + 36, ly), font, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 24), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (w // 2 - 4 * len(xlabel), h - 12), font, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    label = np.full((22, h, 3), 255, np.uint8)  # the y label, written sideways
    cv2.putText(label, ylabel, (h // 2 - 4 * len(ylabel), 16), font, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    img[:, :22] = np.minimum(img[:, :22], np.rot90(label)[:h])
    return img
