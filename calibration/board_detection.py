"""Finding a calibration board in an image, or saying exactly why it is not usable.

An image is refused, with a reason a person can act on, when the board is missing, only partly in view, or
blurred. A refused image is never used: a calibration from wrongly found corners would be silently wrong.
Corners come back in the board's own order (see ``boards``), so a 180-degree turn or a mirror-image ordering
of OpenCV's detector never swaps the board's origin.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rigbot.calibration.boards import Board, Chessboard, CharucoBoard

# OpenCV's estimateChessboardSharpness gives the average width (pixels) of the black-white edges at the corners;
# rendered boards measure about 1.5, a sharp camera image 2 to 3, motion- or focus-blurred ones 4 and more.
DEFAULT_MAX_EDGE_WIDTH_PX = 4.0
MIN_CONTRAST = 40  # grey levels between the board's black and white squares


class BoardNotFound(ValueError):
    """The image holds no usable view of the board; ``reason`` says why (missing, partial, blurred, ...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BoardView:
    """Where a board's corners are in one image."""

    image_points: np.ndarray
    """N x 2 float32 pixel coordinates (OpenCV's: the centre of the top-left pixel is 0, 0)."""
    object_points: np.ndarray
    """N x 3 float32 matching positions in the board frame, metres."""
    image_size: tuple[int, int]
    """(width, height) of the image."""
    edge_width_px: float = float("nan")
    """How blurred the board's edges are (pixels; NaN where not measured)."""


def to_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise BoardNotFound(f"not an 8-bit grey or colour image (dtype {image.dtype}, shape {image.shape})")
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)


def detect_board(image: np.ndarray, board: Board, max_edge_width_px: float = DEFAULT_MAX_EDGE_WIDTH_PX,
                 min_corner_fraction: float = 0.5) -> BoardView:
    """The board's corners in ``image`` (RGB or grey uint8); BoardNotFound saying why when it is not usable.

    ``min_corner_fraction``: a ChArUco view must show at least this share of its corners (a chessboard always
    shows all of them, or is not found).
    """
    gray = to_gray(image)
    if isinstance(board, Chessboard):
        return _detect_chessboard(gray, board, max_edge_width_px)
    return _detect_charuco(gray, board, min_corner_fraction)


def _detect_chessboard(gray: np.ndarray, board: Chessboard, max_edge_width_px: float) -> BoardView:
    h, w = gray.shape
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(gray, board.pattern_size, flags=flags)
    if not found:
        raise BoardNotFound(_why_not_found(gray, board))
    corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1),
                               (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 1e-3))
    grid = corners.reshape(board.rows, board.columns, 2)
    grid = _in_board_order(gray, grid, board)
    sharpness = cv2.estimateChessboardSharpness(gray, board.pattern_size, grid.reshape(-1, 1, 2))[0]
    edge_width, dark, bright = float(sharpness[0]), float(sharpness[1]), float(sharpness[2])
    if bright - dark < MIN_CONTRAST:
        raise BoardNotFound(f"board found but with too little contrast (black {dark:.0f}, white {bright:.0f} of 255): "
                            "light it evenly, avoid glare and over- or under-exposure")
    if edge_width > max_edge_width_px:
        raise BoardNotFound(f"blurred: the board's edges are {edge_width:.1f} px wide (at most {max_edge_width_px:g} "
                            "allowed); hold the board still and check the focus")
    return BoardView(grid.reshape(-1, 2).astype(np.float32), board.object_points(), (w, h), edge_width)


def _why_not_found(gray: np.ndarray, board: Chessboard) -> str:
    """Tell a board that is not there from one that is there but unusable (cut off, covered, blurred)."""
    what = f"no complete {board.columns}x{board.rows} chessboard found"
    # A board partly out of view still shows a chessboard pattern of fewer corners: look for the larger ones.
    parts = sorted(((c, r) for c in range(3, board.columns + 1) for r in range(3, board.rows + 1)
                    if (c, r) != board.pattern_size and c * r >= 0.4 * board.corner_count), key=lambda s: -s[0] * s[1])
    for cols, rows in parts:
        if cv2.findChessboardCorners(gray, (cols, rows), flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_FAST_CHECK)[0]:
            return (f"{what}: only part of the board is in view (a {cols}x{rows} part was seen); keep every inner "
                    "corner inside the image")
    sharpness = cv2.Laplacian(gray, cv2.CV_64F).var()
    if sharpness < 50 and gray.std() > 20:
        return (f"{what}: the image looks blurred (variance of the Laplacian {sharpness:.0f}); hold the board "
                "still and check the focus")
    return (f"{what}: no board in view, or it is covered, too small, too steeply tilted, or the --board size is "
            "wrong (count the inner corners)")


def _in_board_order(gray: np.ndarray, grid: np.ndarray, board: Chessboard) -> np.ndarray:
    """Reorder OpenCV's corner grid (rows x columns x 2) so corner 0 is the board's origin, x along columns.

    OpenCV may start at any end of the pattern. A mirror-image order (the board seen 'from behind') is undone
    first; then, for an unambiguous board, a 180-degree turn is undone by checking that the corner square beside
    corner 0 is the black one.
    """
    x_step, y_step = grid[0, 1] - grid[0, 0], grid[1, 0] - grid[0, 0]
    if x_step[0] * y_step[1] - x_step[1] * y_step[0] < 0:  # in the image, x then y must turn clockwise
        grid = grid[:, ::-1]
    if not board.unambiguous:
        return grid
    first = grid[0, 0] - 0.5 * (grid[0, 1] - grid[0, 0]) - 0.5 * (grid[1, 0] - grid[0, 0])
    last = grid[-1, -1] + 0.5 * (grid[-1, -1] - grid[-1, -2]) + 0.5 * (grid[-1, -1] - grid[-2, -1])
    h, w = gray.shape
    for p in (first, last):
        if not (2 <= p[0] < w - 2 and 2 <= p[1] < h - 2):
            raise BoardNotFound("only part of the board is in view: its corner squares are cut off by the image "
                                "edge, so its orientation cannot be told; move it inside the image")
    level = lambda p: float(gray[int(p[1]) - 1:int(p[1]) + 2, int(p[0]) - 1:int(p[0]) + 2].mean())  # noqa: E731
    if level(first) > level(last):
        grid = grid[::-1, ::-1]
    return grid


def _detect_charuco(gray: np.ndarray, board: CharucoBoard, min_corner_fraction: float) -> BoardView:
    h, w = gray.shape
    detector = cv2.aruco.CharucoDetector(board.opencv_board())
    corners, ids, marker_corners, marker_ids = detector.detectBoard(gray)
    seen = 0 if ids is None else len(ids)
    if seen == 0:
        markers = 0 if marker_ids is None else len(marker_ids)
        if markers:
            return_reason = (f"no ChArUco corners found though {markers} marker(s) were: the board is mostly out of "
                             "view, or it is another board (check --charuco size and --dictionary)")
        else:
            sharpness = cv2.Laplacian(gray, cv2.CV_64F).var()
            blurred = " (the image looks blurred)" if sharpness < 50 and gray.std() > 20 else ""
            return_reason = f"no {board.columns}x{board.rows} ChArUco board found{blurred}"
        raise BoardNotFound(return_reason)
    needed = max(6, int(np.ceil(min_corner_fraction * board.corner_count)))
    if seen < needed:
        raise BoardNotFound(f"only part of the board is in view: {seen} of {board.corner_count} ChArUco corners "
                            f"seen, at least {needed} needed")
    ids = ids.reshape(-1)
    return BoardView(corners.reshape(-1, 2).astype(np.float32), board.object_points()[ids], (w, h))
