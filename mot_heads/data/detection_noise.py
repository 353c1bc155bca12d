"""A seeded detector noise model: ground truth in, detections as a detector would give.

Each visible object is detected with probability ``min(1, detect_offset + visibility)``
(occluded objects are missed more), its box corners jittered by ``jitter`` of its size (a
box jittered thinner than a pixel is dropped), its score ``0.5 + 0.5 * visibility`` plus
noise; false positives arrive as a Poisson process per frame with random boxes and low
scores. The synthetic set writes its public ``det.txt`` with this model; tests and
benchmarks use it to feed trackers.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np


# Jittered boxes thinner than this many pixels are dropped (MOTChallenge readers reject
# boxes without area).
MIN_BOX_SIDE = 1.0


@dataclass(frozen=True)
class DetectionNoise:
    jitter: float = 0.05  # std of the x, y, w, h noise, relative to the box size
    false_positives: float = 0.3  # mean false positives per frame
    detect_offset: float = 0.3  # P(detected) = min(1, detect_offset + visibility)


def simulate_detections(
    gt: np.ndarray,
    noise: DetectionNoise,
    rng: np.random.Generator,
    image_size: Tuple[int, int],
    false_positive_classes: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Detections of one frame from its gt rows.

    Args:
        gt: (K, 9) MOTChallenge gt rows of one frame (frame, id, x, y, w, h, mark,
            class, visibility).
        image_size: (width, height), where false positives are placed.
        false_positive_classes: classes to draw false positives' class from; None
            gives them class -1.

    Returns:
        (D, 8) rows (frame, source id, x, y, w, h, score, class): the gt id a detection
        came from (-1 for false positives) lets tests follow it; det.txt writes -1.
    """
    frame = gt[0, 0] if len(gt) else np.nan
    rows = []
    for _, track_id, x, y, w, h, _, cls, vis in gt:
        if rng.uniform() < min(1.0, noise.detect_offset + vis):
            jitter = rng.normal(0, noise.jitter, size=4) * [w, h, w, h]
            score = float(np.clip(0.5 + 0.5 * vis + rng.normal(0, 0.1), 0.05, 1.0))
            if min(w + jitter[2], h + jitter[3]) < MIN_BOX_SIDE:  # a sliver no detector reports
                continue
            rows.append((frame, track_id, x + jitter[0], y + jitter[1], w + jitter[2], h + jitter[3], score, cls))
    width, height = image_size
    for _ in range(rng.poisson(noise.false_positives)):
        w = rng.uniform(15, 60)
        h = w * rng.uniform(0.5, 2.5)
        x = rng.uniform(0, width - w)
        y = rng.uniform(0, height - h)
        score = float(rng.uniform(0.05, 0.5))
        cls = -1 if false_positive_classes is None else rng.choice(false_positive_classes)
        rows.append((frame, -1, x + 1, y + 1, w, h, score, cls))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 8)


def simulate_embeddings(
    source_ids: np.ndarray,
    visibility: np.ndarray,
    dim: int,
    noise: float,
    rng: np.random.Generator,
    identity_seed: int = 0,
) -> np.ndarray:
    """Appearance embeddings (D, dim) of detections.

    Each identity has one fixed random unit direction (seeded by ``identity_seed`` and
    its id); a detection's embedding is that direction plus Gaussian noise of norm about
    ``noise / max(visibility, 0.1)`` (occlusion blurs appearance). False positives
    (source id -1) get random directions.
    """
    out = rng.normal(size=(len(source_ids), dim))
    for i, (source, vis) in enumerate(zip(source_ids, visibility)):
        if source >= 0:
            identity = np.random.default_rng([identity_seed, int(source)]).normal(size=dim)
            out[i] = identity / np.linalg.norm(identity) + out[i] * noise / max(vis, 0.1) / np.sqrt(dim)
    return out
