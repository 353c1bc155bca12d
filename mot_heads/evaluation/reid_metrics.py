"""Retrieval metrics of re-identification: CMC and mAP, the Market-1501 protocol.

For each query the gallery is ranked by ascending distance (ties keep gallery order).
With cameras given, the gallery entries of the query's identity seen by the query's
camera are removed first (Zheng et al., ICCV 2015: a same-camera match is too easy).
A query with no true match left is invalid and left out of every metric.

- CMC at rank k: the fraction of valid queries whose first true match is at rank <= k.
- AP of a query: the mean over its true matches of the precision at each match's rank
  (non-interpolated); mAP is its mean over valid queries.

Only numpy: the module serves any retrieval task (tracklet ReID, person search, a ReID
teacher) given a distance matrix and identity labels.
"""
from typing import Dict, Optional

import numpy as np

# Queries ranked at once: bounds the (chunk, gallery) working arrays to ~2^24 entries.
_CHUNK_ENTRIES = 1 << 24


def _labels(values, length: Optional[int], what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (length is not None and len(array) != length):
        expected = f"({length},)" if length is not None else "(N,)"
        raise ValueError(f"{what}: expected a 1-D array of shape {expected}, one label per row, got {array.shape}")
    return array


def retrieval_metrics(
    distances: np.ndarray,
    query_ids: np.ndarray,
    gallery_ids: np.ndarray,
    query_cams: Optional[np.ndarray] = None,
    gallery_cams: Optional[np.ndarray] = None,
    max_rank: int = 10,
) -> Dict[str, object]:
    """CMC and mAP of a (Q, G) ``distances`` matrix of queries (rows) to gallery entries.

    Args:
        query_ids, gallery_ids: (Q,) and (G,) identity labels (any comparable dtype).
        query_cams, gallery_cams: (Q,) and (G,) camera labels, both or neither; given,
            same-identity same-camera gallery entries are excluded per query.
        max_rank: length of the returned CMC curve.

    Returns ``cmc`` ((max_rank,) array, ranks 1..max_rank), ``rank1``, ``rank5``,
    ``rank10`` and ``mAP`` as fractions in [0, 1] (NaN when no query is valid), and
    ``num_valid_queries``.
    """
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2:
        raise ValueError(f"distances: expected a 2-D (queries, gallery) matrix, got shape {distances.shape}")
    if np.isnan(distances).any():
        raise ValueError("distances: contains NaN; expected comparable distances (inf is allowed)")
    num_q, num_g = distances.shape
    query_ids = _labels(query_ids, num_q, "query_ids")
    gallery_ids = _labels(gallery_ids, num_g, "gallery_ids")
    if (query_cams is None) != (gallery_cams is None):
        raise ValueError("query_cams and gallery_cams: give both (same-camera exclusion) or neither")
    if query_cams is not None:
        query_cams = _labels(query_cams, num_q, "query_cams")
        gallery_cams = _labels(gallery_cams, num_g, "gallery_cams")
    if int(max_rank) != max_rank or max_rank < 1:
        raise ValueError(f"max_rank: expected a positive integer, got {max_rank!r}")

    first_match = np.zeros(num_q, np.int64)  # 1-based rank of the first true match; 0: invalid query
    ap = np.zeros(num_q)
    chunk = max(1, _CHUNK_ENTRIES // max(num_g, 1))
    for start in range(0, num_q if num_g else 0, chunk):
        rows = slice(start, start + chunk)
        order = np.argsort(distances[rows], axis=1, kind="stable")
        matches = gallery_ids[order] == query_ids[rows, None]
        if query_cams is None:
            rank = np.arange(1, num_g + 1)[None, :]
        else:
            kept = ~(matches & (gallery_cams[order] == query_cams[rows, None]))
            matches &= kept
            rank = np.cumsum(kept, axis=1)  # rank among the entries left
        hits = np.cumsum(matches, axis=1)
        num_matches = hits[:, -1]
        valid = num_matches > 0
        # Precision at each true match's rank, summed over the matches (non-interpolated AP).
        precision = np.divide(hits, rank, out=np.zeros(matches.shape), where=matches)
        precision_sum = precision.sum(axis=1)
        ap[rows] = np.divide(precision_sum, num_matches, out=np.zeros(len(valid)), where=valid)
        first = matches.argmax(axis=1)  # position of the first true match
        first_rank = first + 1 if query_cams is None else rank[np.arange(len(first)), first]
        first_match[rows] = np.where(valid, first_rank, 0)

    valid = first_match > 0
    num_valid = int(valid.sum())

    def cmc_at(ranks: np.ndarray) -> np.ndarray:
        if not num_valid:
            return np.full(len(ranks), np.nan)
        return (first_match[valid][None, :] <= ranks[:, None]).mean(axis=1)

    cmc = cmc_at(np.arange(1, int(max_rank) + 1))
    rank1, rank5, rank10 = cmc_at(np.array([1, 5, 10]))
    return {
        "cmc": cmc,
        "rank1": float(rank1),
        "rank5": float(rank5),
        "rank10": float(rank10),
        "mAP": float(ap[valid].mean()) if num_valid else float("nan"),
        "num_valid_queries": num_valid,
    }
