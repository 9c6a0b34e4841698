"""Real pen trajectories (UCI pendigits, UNIPEN text) drawn as a person would draw them on the canvas."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digitlab.config.paths import SHARED_DATA

PENDIGITS_ENV_VAR = "DIGITLAB_PENDIGITS"  # where pendigits-orig.tra is, when not in ../shared/data
DEFAULT_PENDIGITS = SHARED_DATA / "pendigits-orig.tra"
CANVAS_SIZE = 280
TABLET_SIZE = 500  # pendigits coordinates lie in a 0..500 box with y pointing up
BRUSH_WIDTHS = (10, 28)  # the canvas's brush slider range, in canvas pixels
SUPERSAMPLE = 2  # drawn at 2x and reduced, so edges are antialiased like a browser canvas

# Writers never trained on and never used to choose a model: every figure for "new writers" is
# measured on these alone. Eight of the 30, spread over the writer ids, fixed once so every
# model, benchmark and test agrees on them.
HELD_OUT_WRITERS = frozenset({3, 7, 11, 15, 19, 23, 27, 30})


@dataclass(frozen=True)
class PenDigit:
    label: int
    writer: int
    strokes: list[np.ndarray]  # each (n, 2) float points, screen orientation (y down)


def read_pendigits(path: str | Path) -> list[PenDigit]:
    """Parse a pendigits-orig UNIPEN file into digits with their strokes."""
    return _parse_lines(Path(path).read_text().splitlines())


def read_pendigits_checked(path: str | Path) -> tuple[list[PenDigit], list[str]]:
    """(the digits that parse, a line per segment that does not): one broken segment spoils only itself.

    Files people import are not always clean; each .SEGMENT is parsed on its own, so a typo in one
    digit's points or label is reported with its line number while every other digit still comes in.
    """
    lines = Path(path).read_text(errors="replace").splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith(".SEGMENT")]
    digits: list[PenDigit] = []
    problems: list[str] = []
    for start, end in zip(starts, [*starts[1:], len(lines)]):
        try:
            parsed = _parse_lines(lines[start:end])
        except (ValueError, IndexError) as error:
            problems.append(f"line {start + 1}: {error}")
            continue
        if len(parsed) != 1:
            problems.append(f"line {start + 1}: the segment has no pen strokes")
        elif not 0 <= parsed[0].label <= 9:
            problems.append(f"line {start + 1}: the label {parsed[0].label} is not a digit from 0 to 9")
        else:
            digits.extend(parsed)
    if not starts:
        problems.append("no .SEGMENT lines: this is not UNIPEN pen-digit text")
    return digits, problems


def _parse_lines(lines: list[str]) -> list[PenDigit]:
    digits: list[PenDigit] = []
    label = writer = None
    strokes: list[np.ndarray] = []
    points: list[tuple[float, float]] | None = None

    def finish_digit() -> None:
        if label is not None and strokes:
            digits.append(PenDigit(label, writer or 0, list(strokes)))

    for line in lines:
        if line.startswith(".SEGMENT"):
            finish_digit()
            label = int(line.rsplit('"', 2)[-2])
            writer, strokes = None, []
        elif line.startswith(".COMMENT") and label is not None:
            fields = line.split()
            writer = int(fields[2]) if len(fields) > 2 else None
        elif line.startswith(".PEN_DOWN"):
            points = []
        elif line.startswith(".PEN_UP"):
            if points:
                xy = np.array(points, np.float32)
                xy[:, 1] = TABLET_SIZE - xy[:, 1]
                strokes.append(xy)
            points = None
        elif points is not None and line.strip():
            x, y = line.split()[:2]
            points.append((float(x), float(y)))
    finish_digit()
    return digits


def pendigits_path() -> Path | None:
    """The pen trajectories file, or None where it is not on this machine."""
    path = Path(os.environ.get(PENDIGITS_ENV_VAR) or DEFAULT_PENDIGITS)
    return path if path.is_file() else None


def split_by_writer(digits: list[PenDigit]) -> tuple[list[PenDigit], list[PenDigit]]:
    """(training writers' digits, held-out writers' digits): no writer is on both sides."""
    training = [digit for digit in digits if digit.writer not in HELD_OUT_WRITERS]
    held_out = [digit for digit in digits if digit.writer in HELD_OUT_WRITERS]
    return training, held_out


def pen_digits_refusal(path: str | Path | None) -> str | None:
    """Why a run could take no pen digits from path, or None (also when no file is given).

    The trainer adds whatever digits the file's training writers drew, so a file with none (a typo'd path to the
    wrong file, or a file of held-out writers alone) would train without pen digits under a run that says it
    added them; train, recipe and number-reader say so before they make a run folder.
    """
    if path is None:
        return None
    if not Path(path).is_file():
        return f"pen digits file {path} not found."  # as TrainConfig.validate says it
    digits, _ = read_pendigits_checked(path)
    if not digits:
        return (f"{path} holds no pen digits in the pendigits format (UNIPEN text of .SEGMENT digits with pen "
                "strokes); give pendigits-orig.tra (see ../shared/data/README.md).")
    training, held_out = split_by_writer(digits)
    if not training:
        writers = sorted({digit.writer for digit in held_out})
        return (f"{path} holds only writers held out from training ({len(writers)} of the "
                f"{len(HELD_OUT_WRITERS)}: {', '.join(map(str, writers))}), so a run would train on none of its "
                "pen digits; give pendigits-orig.tra, whose other writers are trained on "
                "(see ../shared/data/README.md).")
    return None


def render_on_canvas(digit: PenDigit, rng: np.random.Generator, rgba: bool = True) -> np.ndarray:
    """Draw a pen digit as a canvas drawing (see render_strokes_on_canvas)."""
    return render_strokes_on_canvas(digit.strokes, rng, rgba)


def render_strokes_on_canvas(pen_strokes: list[np.ndarray], rng: np.random.Generator, rgba: bool = True) -> np.ndarray:
    """Draw pen strokes (y down, any units) as a canvas drawing: white round-capped strokes on black, 280x280.

    Size, position and brush width vary the way people's drawings do: the drawing is 40-85% of the
    canvas tall, anywhere it fits, with a brush of 10-28 px. Returns RGBA (strokes on a transparent
    layer, as the canvas component gives them) or grey.
    """
    points = np.concatenate(pen_strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    span = max(float((high - low).max()), 1.0)
    brush = float(rng.uniform(*BRUSH_WIDTHS))
    size = float(rng.uniform(0.40, 0.85)) * CANVAS_SIZE
    scale = size / span
    extent = (high - low) * scale
    margin = brush / 2 + 2
    offset_x = rng.uniform(margin, max(margin, CANVAS_SIZE - margin - extent[0]))
    offset_y = rng.uniform(margin, max(margin, CANVAS_SIZE - margin - extent[1]))

    strokes = [(stroke - low) * scale + (offset_x, offset_y) for stroke in pen_strokes]
    gray = draw_strokes(strokes, (CANVAS_SIZE, CANVAS_SIZE), brush)
    return as_canvas_rgba(gray) if rgba else gray


def draw_strokes(strokes: list[np.ndarray], size: tuple[int, int], brush: float) -> np.ndarray:
    """Grey (height, width) uint8 image of strokes (canvas pixel coordinates) drawn as round-capped lines."""
    width, height = size
    image = Image.new("L", (width * SUPERSAMPLE, height * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(image)
    pen = brush * SUPERSAMPLE
    for stroke in strokes:
        coords = [tuple(p) for p in (np.asarray(stroke) * SUPERSAMPLE).tolist()]
        if len(coords) > 1:
            draw.line(coords, fill=255, width=max(1, round(pen)), joint="curve")
        radius = pen / 2
        for x, y in (coords[0], coords[-1]):  # round caps
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image.resize((width, height), Image.Resampling.BOX))


def as_canvas_rgba(gray: np.ndarray) -> np.ndarray:
    """A grey ink image as the canvas component sends it: white strokes on a transparent layer."""
    canvas = np.zeros((*gray.shape, 4), np.uint8)
    canvas[:, :, :3] = 255
    canvas[:, :, 3] = gray
    return canvas
