"""Greedy non-maximum suppression within each class."""
import numpy as np

from .costs import iou_matrix


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept, highest score first: a box is dropped when it overlaps a
    kept box of its class with IoU > ``iou_threshold``."""
    order = np.argsort(-scores, kind="stable")
    overlaps = iou_matrix(boxes[order], boxes[order]) > iou_threshold
    overlaps &= classes[order][:, None] == classes[order][None, :]
    suppressed = np.zeros(len(order), bool)
    for i in range(len(order)):
        if not suppressed[i]:
            suppressed[i + 1:] |= overlaps[i, i + 1:]
    return order[~suppressed]
