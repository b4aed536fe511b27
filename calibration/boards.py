"""Calibration boards: a plain chessboard or a ChArUco board, their corner coordinates, and images to print or render.

Board frame (the same for both kinds): origin at a corner of the pattern, x along its columns, y along its
rows, z into the board, so a camera facing the printed side sees x to the right and y downwards when the board
is upright. A chessboard is named by its *inner corners* (``9x6``), as OpenCV and ROS's ``camera_calibration
--size`` name it; its origin is the inner corner beside the black corner square. A chessboard whose square
counts differ in parity (inner corners one odd, one even, e.g. 9 x 6) looks different turned by 180 degrees, so
its origin can be told from the image; a symmetric one (e.g. 8 x 6) cannot, and is good for intrinsics only.
A ChArUco board is named by its *squares* (``7x5``), as OpenCV's ``CharucoBoard`` is; its markers name every
corner, so it can be seen partly and is never ambiguous.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BoardImage:
    """A picture of a board: grey pixels, the size of one square in pixels, and where the board's origin is."""

    pixels: np.ndarray
    square_px: int
    origin_px: tuple[float, float]
    """Pixel position (x right, y down, pixel corners at integers) of the board frame's origin."""


@dataclass(frozen=True)
class Chessboard:
    columns: int
    """Inner corners along x."""
    rows: int
    """Inner corners along y."""
    square: float
    """Side of one square, metres."""

    kind = "chessboard"

    def __post_init__(self):
        if self.columns < 3 or self.rows < 3:
            raise ValueError(f"chessboard {self.columns}x{self.rows}: needs at least 3 x 3 inner corners")
        if not self.square > 0:
            raise ValueError(f"chessboard square size must be positive (metres), got {self.square}")

    @property
    def pattern_size(self) -> tuple[int, int]:
        return self.columns, self.rows

    @property
    def corner_count(self) -> int:
        return self.columns * self.rows

    @property
    def unambiguous(self) -> bool:
        """Whether the board's origin can be told from an image (one odd, one even inner-corner count)."""
        return (self.columns + self.rows) % 2 == 1

    def object_points(self) -> np.ndarray:
        """Corner positions in the board frame, metres, row by row (OpenCV's order): N x 3 float32."""
        ij = np.stack(np.meshgrid(np.arange(self.columns), np.arange(self.rows)), -1).reshape(-1, 2)
        return np.hstack([ij * self.square, np.zeros((len(ij), 1))]).astype(np.float32)

    def image(self, square_px: int = 64, margin_squares: float = 1.0) -> BoardImage:
        """The board as grey pixels, square (0, 0) black, with a white margin (detectors need a quiet border)."""
        margin = int(round(margin_squares * square_px))
        cols, rows = self.columns + 1, self.rows + 1
        pixels = np.full((rows * square_px + 2 * margin, cols * square_px + 2 * margin), 255, np.uint8)
        for j in range(rows):
            for i in range(cols):
                if (i + j) % 2 == 0:
                    y, x = margin + j * square_px, margin + i * square_px
                    pixels[y:y + square_px, x:x + square_px] = 0
        return BoardImage(pixels, square_px, (margin + square_px, margin + square_px))

    def describe(self) -> str:
        return f"{self.columns}x{self.rows} chessboard (inner corners), {self.square * 1000:g} mm squares"


@dataclass(frozen=True)
class CharucoBoard:
    columns: int
    """Squares along x."""
    rows: int
    """Squares along y."""
    square: float
    """Side of one square, metres."""
    marker: float
    """Side of one ArUco marker, metres (smaller than a square)."""
    dictionary: str = "DICT_5X5_100"
    """OpenCV's name of the ArUco dictionary the markers come from."""

    kind = "charuco"

    def __post_init__(self):
        if self.columns < 3 or self.rows < 3:
            raise ValueError(f"ChArUco board {self.columns}x{self.rows}: needs at least 3 x 3 squares")
        if not 0 < self.marker < self.square:
            raise ValueError(f"ChArUco marker size {self.marker} must be positive and below the square size {self.square}")
        if not hasattr(cv2, "aruco"):
            raise ValueError("this OpenCV has no aruco module: use a chessboard, or install opencv-contrib-python")
        if not hasattr(cv2.aruco, self.dictionary):
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r} (e.g. DICT_4X4_50, DICT_5X5_100, DICT_6X6_250)")
        needed = (self.columns * self.rows) // 2
        if self.opencv_board().getDictionary().bytesList.shape[0] < needed:
            raise ValueError(f"{self.dictionary} has fewer markers than a {self.columns}x{self.rows} board needs ({needed})")

    def opencv_board(self) -> "cv2.aruco.CharucoBoard":
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.columns, self.rows), self.square, self.marker, dictionary)

    @property
    def corner_count(self) -> int:
        return (self.columns - 1) * (self.rows - 1)

    unambiguous = True

    def object_points(self) -> np.ndarray:
        """Inner corner positions in the board frame, metres, indexed by ChArUco corner id: N x 3 float32."""
        return np.asarray(self.opencv_board().getChessboardCorners(), dtype=np.float32).reshape(-1, 3)

    def image(self, square_px: int = 64, margin_squares: float = 1.0) -> BoardImage:
        margin = int(round(margin_squares * square_px))
        size = (self.columns * square_px + 2 * margin, self.rows * square_px + 2 * margin)
        pixels = self.opencv_board().generateImage(size, marginSize=margin, borderBits=1)
        return BoardImage(pixels, square_px, (margin, margin))  # OpenCV's ChArUco origin is the outer corner

    def describe(self) -> str:
        return (f"{self.columns}x{self.rows} ChArUco board (squares), {self.square * 1000:g} mm squares, "
                f"{self.marker * 1000:g} mm {self.dictionary} markers")


Board = Chessboard | CharucoBoard


def _grid(text: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"{what} must look like COLUMNSxROWS, e.g. 9x6; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def make_board(chessboard: str | None = None, square: float | None = None, charuco: str | None = None,
               marker: float | None = None, dictionary: str = "DICT_5X5_100") -> Board:
    """A board from command-line style arguments: ``chessboard='9x6'`` or ``charuco='7x5'`` (+ ``marker``)."""
    if (chessboard is None) == (charuco is None):
        raise ValueError("name one board: a chessboard by its inner corners (9x6) or a ChArUco board by its squares (7x5)")
    if square is None:
        raise ValueError("give the board's square size in metres (measure the printed board, e.g. 0.025)")
    if square > 0.5:
        raise ValueError(f"square size {square} m is larger than half a metre: give it in metres, not millimetres")
    if chessboard is not None:
        return Chessboard(*_grid(chessboard, "chessboard"), square)
    if marker is None:
        raise ValueError("a ChArUco board needs its marker size in metres too (--marker)")
    return CharucoBoard(*_grid(charuco, "ChArUco board"), square, marker, dictionary)
