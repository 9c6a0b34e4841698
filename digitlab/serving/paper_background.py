"""A photo's paper under uneven light -> ink by local contrast, so a shadow is never taken for ink.

One threshold for a whole photo fails as soon as the light is uneven: a soft shadow across one side
of the page is darker than a pencil stroke in the light, so the shadow came out as ink (read as a
digit, a 1 along its edge) and a stroke in the shadow as paper. The light multiplies the paper's
brightness, so dividing the picture by the paper's own brightness at each place takes the light out.
The paper is found by a morphological closing (the brightest level within a window, then the darkest
of those): it lifts strokes narrower than the window and keeps every slope of the light that rises
or falls steadily across the page, shadow edges included. What is then darker than its paper is ink,
by a threshold chosen from the picture (Otsu's), raised where the surface's own grain reaches higher
(a wood table). Ink along the picture's edge for a long way, or only (or mostly, where the table's
grain comes close to the writing) in a narrow band beside it, is the table past the paper, and a fleck
far smaller than the writing is grain or dirt: both are dropped, and so is the faint paper between
strokes. A pencil's stroke, broken where its grain is
faint, is bridged, so the number reader does not take its pieces for digits.

Canvas drawings never come here (digitlab/serving/ink.py reads strokes on a transparent layer its
own way), and neither do pictures whose paper is evenly lit, such as saved drawings and clean scans:
for those one threshold is already right, and they keep exactly the reading they had.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_WINDOW = 1 / 6  # the paper window's side, as a share of the picture's shorter side
MIN_WINDOW = 7  # pixels: a tiny image still needs a window wider than its strokes
EVEN_PAPER = 3 / 255  # paper whose brightness varies less than this is evenly lit
MIN_LOCAL_CONTRAST = 0.15  # ink darkens its paper by at least this share; paper grain and JPEG noise do not
INK_LEVEL = 0.35  # the ink strength the chosen threshold is given: digitlab.serving.ink.INK_THRESHOLD
PAPER_EDGE_CONTACT = 0.15  # ink lying along more than this share of one side of the picture is the table
BORDER_BAND = 0.12  # ink touching the border and staying within this share of the picture beside it is the table
TABLE_SHARE = 0.75  # and, of ink that touches the border and reaches further, the band's part where it holds this much
GRAIN_PERCENTILE = 50  # of the blocks around a place: strokes cross fewer than half of them
GRAIN_MARGIN = 0.8  # ink exceeds this share of the contrast the surface's own grain typically reaches nearby
GRAIN_BLUR = 1.2  # pixels (Gaussian sigma): paper grain, a pencil's grain and sensor noise are finer
GROUP_REACH = 6  # pixels: ink this close to other ink is part of the same writing
SPECK_SHARE = 0.05  # a group with less ink than this share of the largest group's is a speck
STROKE_GAP = 2  # pixels: breaks in a stroke this wide are bridged
EDGE_PIXELS = 2  # pixels around the ink mask kept for a stroke's soft edge
POLARITY_SIDE = 48  # the polarity is judged on a copy whose shorter side is about this many pixels


def dark_ink_on_light(gray: np.ndarray) -> bool:
    """Whether the ink is darker than its paper: which tail of the picture's difference from its local
    median (on a small copy, where the median is cheap) reaches further. Ink is a thin minority of any
    window, so the median is the paper there; a shadow darkens whole regions, not thin lines, so it
    leaves the answer alone where the picture's border (or its overall median) would flip it."""
    from PIL import Image
    from scipy import ndimage

    step = max(1, round(min(gray.shape) / POLARITY_SIDE))
    small = gray if step == 1 else np.asarray(
        Image.fromarray(gray).resize((max(1, gray.shape[1] // step), max(1, gray.shape[0] // step)),
                                     Image.Resampling.BOX))
    window = max(3, int(min(small.shape) * BACKGROUND_WINDOW) | 1)
    residual = small - ndimage.median_filter(small, size=window, mode="nearest")
    low, high = np.percentile(residual, (1, 99))
    return bool(-low >= high)


def paper_level(paper_light: np.ndarray) -> np.ndarray:
    """The paper's brightness at each pixel of a picture with light paper and dark ink (float, 0..1)."""
    from scipy import ndimage

    window = max(MIN_WINDOW, int(min(paper_light.shape) * BACKGROUND_WINDOW) | 1)
    lifted = ndimage.maximum_filter(paper_light, size=window, mode="nearest")
    return ndimage.minimum_filter(lifted, size=window, mode="nearest")


def local_contrast_ink(gray: np.ndarray) -> np.ndarray | None:
    """Ink strength (float32, 0..1, bright ink on black) of an opaque picture, read against its own paper
    at each place; None where the paper is evenly lit, for the whole-picture reading to serve.

    A picture whose border is one exact level was made by a program (a saved drawing, an MNIST digit,
    a digit cut out of a number with an empty margin), not taken by a camera: its paper is even.
    """
    border = np.concatenate([gray[0, :], gray[-1, :], gray[:, 0], gray[:, -1]])
    if border.min() == border.max():
        return None
    # Imported past that check: scipy takes 0.3-0.5 s to import, and a canvas drawing (even paper) never needs it,
    # so a fresh server's first stroke does not wait for it.
    from scipy import ndimage

    # Lightly blurred first: single noisy pixels would lift the paper level, and a pencil's grain would
    # break its strokes into specks whose outline preprocessing takes for a hairline pen.
    paper_light = gray if dark_ink_on_light(gray) else 1.0 - gray
    paper_light = ndimage.gaussian_filter(paper_light, GRAIN_BLUR, mode="nearest")
    paper = paper_level(paper_light)
    if float(paper.max() - paper.min()) < EVEN_PAPER:
        return None
    contrast = 1.0 - paper_light / np.maximum(paper, 1e-3)
    np.clip(contrast, 0.0, 1.0, out=contrast)
    threshold = max(otsu_threshold(contrast), MIN_LOCAL_CONTRAST)
    grain = grain_ceiling(contrast)
    above = contrast > np.maximum(threshold, grain)
    table = _past_the_paper(above)
    if table.any():  # the table is far darker than any stroke: the threshold is chosen again without it
        table = _grown(table, 2 * GROUP_REACH)  # and its blurred, ragged edge
        threshold = max(otsu_threshold(contrast[~table]), MIN_LOCAL_CONTRAST)
        above = (contrast > np.maximum(threshold, grain)) & ~table
    if not above.any():
        return np.zeros(gray.shape, np.float32)
    # Paper grain maps to 0 and the threshold to INK_LEVEL, so the ink mask downstream is the one chosen here.
    floor = min(float(np.percentile(contrast[~above], 99)), 0.9 * threshold) if (~above).any() else 0.0
    ink = (contrast - floor) * np.float32(INK_LEVEL / (threshold - floor))
    np.clip(ink, 0.0, 1.0, out=ink)
    ink = _writing_alone(ink.astype(np.float32, copy=False), above)
    if STROKE_GAP:  # a pencil's stroke breaks where its grain is faint: the breaks are bridged
        ink = ndimage.grey_closing(ink, size=2 * STROKE_GAP + 1, mode="constant")
    return ink


def grain_ceiling(contrast: np.ndarray) -> np.ndarray:
    """The contrast that the surface's own grain reaches at each place, times GRAIN_MARGIN: the highest
    contrast in each small block, the median of the blocks around it. Strokes cross fewer than half of
    those blocks, so it is the grain's: faint on paper, strong on a wood table, where one picture-wide
    threshold would read the grain as ink."""
    from PIL import Image
    from scipy import ndimage

    step = max(1, round(min(contrast.shape) / POLARITY_SIDE))
    rows, columns = contrast.shape[0] // step, contrast.shape[1] // step
    if rows < 3 or columns < 3:
        return np.zeros(contrast.shape, np.float32)
    blocks = contrast[: rows * step, : columns * step].reshape(rows, step, columns, step).max(axis=(1, 3))
    window = max(3, int(min(rows, columns) * BACKGROUND_WINDOW) | 1)
    typical = ndimage.percentile_filter(blocks.astype(np.float32), GRAIN_PERCENTILE, size=window,
                                        mode="nearest") * GRAIN_MARGIN
    return np.asarray(Image.fromarray(typical).resize(contrast.shape[::-1], Image.Resampling.BILINEAR))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The level (0..1) that best splits values into two classes (Otsu, 1979), values being in 0..1."""
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    counts = counts.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(counts)
    above = below[-1] - below
    mass_below = np.cumsum(counts * centres)
    mean_below = mass_below / np.maximum(below, 1)
    mean_above = (mass_below[-1] - mass_below) / np.maximum(above, 1)
    between = below * above * (mean_below - mean_above) ** 2
    # Levels that no value takes split the classes equally well: the middle of that gap, not its lower
    # edge, where the noise of the larger class would cross it.
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float(edges[(best[0] + best[-1]) // 2 + 1])


def _past_the_paper(mask: np.ndarray) -> np.ndarray:
    """The ink mask's pixels that are the table past the paper's edge, or a dark margin, not writing: ink
    running along the picture's border for a long way, and groups of ink (within GROUP_REACH pixels of
    each other, as a table's grain is scattered) that touch the border and stay in a narrow band beside
    it. A digit cropped close touches the border only briefly and reaches far into the picture; one
    written near the paper's edge is its own ink, not the table's. Where the table's grain comes within
    GROUP_REACH of the writing, the two form one group that reaches far into the picture; where most of
    that group's ink still lies in the band beside the border it touches, the band's part is the table."""
    from scipy import ndimage

    height, width = mask.shape
    plain, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    along = np.zeros(count + 1, bool)
    for edge, length in ((plain[0, :], width), (plain[-1, :], width), (plain[:, 0], height),
                         (plain[:, -1], height)):
        along |= np.bincount(edge, minlength=count + 1) > PAPER_EDGE_CONTACT * length
    along[0] = False
    groups, count = ndimage.label(_grown(mask, GROUP_REACH), structure=np.ones((3, 3), bool))
    narrow = np.zeros(count + 1, bool)
    band_rows, band_columns = BORDER_BAND * height, BORDER_BAND * width
    for label, (rows, columns) in enumerate(ndimage.find_objects(groups), start=1):
        narrow[label] = ((rows.start == 0 and rows.stop <= band_rows)
                         or (rows.stop == height and rows.start >= height - band_rows)
                         or (columns.start == 0 and columns.stop <= band_columns)
                         or (columns.stop == width and columns.start >= width - band_columns))
    inked = groups[mask]
    totals = np.bincount(inked, minlength=count + 1)
    banded = np.zeros(mask.shape, bool)
    for edge, band in ((groups[0, :], np.s_[: int(band_rows), :]), (groups[-1, :], np.s_[height - int(band_rows):, :]),
                       (groups[:, 0], np.s_[:, : int(band_columns)]), (groups[:, -1], np.s_[:, width - int(band_columns):])):
        touching = np.bincount(edge, minlength=count + 1) > 0
        in_band = np.bincount(groups[band][mask[band]], minlength=count + 1)
        table = touching & (in_band >= TABLE_SHARE * totals)
        table[0] = False
        banded[band] |= table[groups[band]]
    return (along[plain] | narrow[groups] | banded) & mask


def _writing_alone(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """ink kept only on and just around the writing: not on the table past the paper, nor on specks (a
    group of ink with far less than the largest group's is grain or dirt), nor on the faint paper away
    from the strokes, so the digit reaches the model on black, as MNIST's digits are."""
    from scipy import ndimage

    mask = mask & ~_past_the_paper(mask)
    labels, count = ndimage.label(_grown(mask, GROUP_REACH), structure=np.ones((3, 3), bool))
    areas = np.bincount(labels[mask], minlength=count + 1)
    areas[0] = 0
    keep = areas >= max(SPECK_SHARE * areas.max(), 1)
    writing = keep[labels] & _grown(mask, EDGE_PIXELS)
    ink[~writing] = 0.0
    return ink


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """mask widened by pixels every way (a square): one separable pass, far cheaper than repeated dilation."""
    from scipy import ndimage

    return ndimage.maximum_filter(mask.view(np.uint8), size=2 * pixels + 1, mode="constant").view(bool)
