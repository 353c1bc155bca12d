"""CornerNet / CenterNet's Gaussian radius, shared by the models (heatmap targets) and the
trackers (OUTrack's occlusion scores); plain numpy, so ``trackers`` can use it and
``mot_heads.modeling.one_shot.centernet`` re-exports it."""
import numpy as np


def gaussian_radius(height, width, min_overlap: float = 0.7, exact: bool = False):
    """Radius of the Gaussian peak of an object of ``height`` x ``width`` cells (CornerNet
    Sec. 3.2, reused by CenterNet Sec. 3 and FairMOT).

    CornerNet picks r such that moving each corner of the box by up to r (along x and y)
    keeps IoU >= o = ``min_overlap``. Three placements of the two corners bound it, each a
    quadratic in r whose smallest positive root is the limit:

    1. both corners moved the same way (the box translated by (r, r)):
       (w - r)(h - r) / (2wh - (w - r)(h - r)) = o  ->  r^2 - (w + h) r + wh (1 - o) / (1 + o) = 0
    2. both corners inside (the box shrunk by r on every side):
       (w - 2r)(h - 2r) / (wh) = o  ->  4 r^2 - 2 (w + h) r + (1 - o) wh = 0
    3. both corners outside (the box grown by r on every side):
       wh / ((w + 2r)(h + 2r)) = o  ->  4o r^2 + 2o (w + h) r - (1 - o) wh = 0

    ``exact=True`` returns the smallest of the three roots: every box whose corners lie
    within r of the true ones has IoU >= o (shrinking by r costs more IoU than
    growing or translating by r, so case 2 gives it).

    ``exact=False`` (default) returns what CornerNet's and CenterNet's released
    ``gaussian_radius`` returns, which FairMOT's code copies and trains with: the
    code takes the larger roots (b + sqrt(b^2 - 4ac)) / 2 of cases 1 and 2, both
    >= (w + h) / 2, and divides the root of case 3 by 2 instead of 2a = 8o, which gives
    4o times the case-3 radius, always < (w + h) / 2; so its minimum is always that one.
    So it only guarantees that the box grown by r / (4o) on every side has IoU o: at o = 0.7
    it is 2.8x the case-3 radius, about 3.3x the exact radius of a square box (0.273 of its
    side against 0.082). Published results rest on these wider peaks, hence the default.

    ``height`` and ``width`` may be numbers (a float is returned) or numpy arrays of one
    shape (an array of radii is returned).
    """
    sides, area = height + width, height * width
    # Case 3: the positive root of 4o r^2 + 2o (w + h) r - (1 - o) wh = 0.
    grown = (np.sqrt((2 * min_overlap * sides) ** 2 + 16 * min_overlap * (1 - min_overlap) * area)
             - 2 * min_overlap * sides) / (8 * min_overlap)
    if not exact:
        return 4 * min_overlap * grown
    # Case 1: the smaller root of r^2 - (w + h) r + wh (1 - o) / (1 + o) = 0.
    translated = (sides - np.sqrt(sides ** 2 - 4 * area * (1 - min_overlap) / (1 + min_overlap))) / 2
    # Case 2: the smaller root of 4 r^2 - 2 (w + h) r + (1 - o) wh = 0.
    shrunk = (2 * sides - np.sqrt(4 * sides ** 2 - 16 * (1 - min_overlap) * area)) / 8
    return np.minimum(np.minimum(translated, shrunk), grown)
