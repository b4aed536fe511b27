"""Taking calibration images from any camera (``perception.camera.open_camera``): keep the frames that show the
whole board sharply, and only when it has moved since the last one kept, so the set covers many poses."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rigbot import media
from rigbot.calibration.board_detection import BoardNotFound, detect_board
from rigbot.calibration.boards import Board
from rigbot.perception.camera import Camera, EndOfStreamError


@dataclass
class CaptureSummary:
    saved: list[Path] = field(default_factory=list)
    frames_read: int = 0
    rejected: Counter = field(default_factory=Counter)
    """Why frames were not kept, with counts."""
    ended: str = ""


def capture_board_images(camera: Camera, board: Board, out_dir: str | Path, count: int = 20,
                         min_move_px: float = 30.0, max_frames: int | None = None, read_timeout: float = 2.0,
                         on_saved: Callable[[Path, int], None] | None = None) -> CaptureSummary:
    """Read frames until ``count`` board images are saved as ``board_NNNN.png`` in ``out_dir`` (or the stream ends,
    or ``max_frames`` were read). A frame is kept when the board is found and its corners moved on average at
    least ``min_move_px`` pixels since the last kept frame."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = CaptureSummary()
    last_corners: np.ndarray | None = None
    start = len(list(out_dir.glob("board_*.png")))  # append to an earlier session's images
    while len(summary.saved) < count:
        if max_frames is not None and summary.frames_read >= max_frames:
            summary.ended = f"read {max_frames} frames"
            break
        try:
            frame = camera.read(timeout=read_timeout)
        except EndOfStreamError:
            summary.ended = "the recording ended"
            break
        summary.frames_read += 1
        try:
            view = detect_board(frame.rgb, board)
        except BoardNotFound as e:
            summary.rejected[e.reason.split(":")[0]] += 1
            continue
        corners = view.image_points
        if last_corners is not None and len(corners) == len(last_corners) and \
                np.mean(np.linalg.norm(corners - last_corners, axis=1)) < min_move_px:
            summary.rejected["board has not moved enough since the last image kept"] += 1
            continue
        path = media.write_png(out_dir / f"board_{start + len(summary.saved):04d}.png", frame.rgb)
        summary.saved.append(path)
        last_corners = corners
        if on_saved is not None:
            on_saved(path, len(summary.saved))
    else:
        summary.ended = f"{count} images saved"
    return summary
