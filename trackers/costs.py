"""Cost matrices between tracks (rows) and detections (columns)."""
import numpy as np


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _intersection_union(a: np.ndarray, b: np.ndarray):
    # One coordinate at a time on (N, M) arrays, reusing buffers: several times faster
    # than broadcasting (N, M, 2) corner arrays when N and M are in the hundreds.
    width = np.minimum(a[:, None, 2], b[None, :, 2])
    width -= np.maximum(a[:, None, 0], b[None, :, 0])
    np.maximum(width, 0.0, out=width)
    height = np.minimum(a[:, None, 3], b[None, :, 3])
    height -= np.maximum(a[:, None, 1], b[None, :, 1])
    np.maximum(height, 0.0, out=height)
    inter = np.multiply(width, height, out=width)
    union = _area(a)[:, None] + _area(b)[None, :]
    union -= inter
    return inter, union


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of xyxy boxes; 0 where the union is empty."""
    inter, union = _intersection_union(a, b)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def giou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) generalised IoU (Rezatofighi et al. 2019, Alg. 1): IoU - |C \\ (A u B)| / |C|."""
    inter, union = _intersection_union(a, b)
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    hull_wh = np.maximum(a[:, None, 2:], b[None, :, 2:]) - np.minimum(a[:, None, :2], b[None, :, :2])
    hull = hull_wh[..., 0] * hull_wh[..., 1]
    return iou - np.divide(hull - union, hull, out=np.zeros_like(hull), where=hull > 0)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) 1 - cosine similarity of the rows of ``a`` and ``b``, clipped at 0 (JDE)."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.maximum(0.0, 1.0 - a @ b.T)


def forbid_cross_class(cost: np.ndarray, track_classes: np.ndarray, det_classes: np.ndarray) -> np.ndarray:
    """``cost`` with pairs of different classes set to infinity (class-aware association)."""
    cost[track_classes[:, None] != det_classes[None, :]] = np.inf
    return cost
