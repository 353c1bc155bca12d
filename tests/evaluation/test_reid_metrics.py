"""CMC and mAP of the Market-1501 protocol against hand-computed cases."""
import numpy as np
import pytest

from mot_heads.evaluation import reid_metrics
from mot_heads.evaluation.reid_metrics import retrieval_metrics


def test_ap_and_cmc_of_hand_ranked_queries():
    # Gallery a, b, a, c, d; ranked by distance: b(.1) a(.2) c(.3) a(.4) d(.5).
    # Query "a": true matches at ranks 2 and 4 -> AP = (1/2 + 2/4) / 2 = 0.5, first match rank 2.
    # Query "b": its only match at rank 1 -> AP = 1.
    distances = [[0.4, 0.1, 0.2, 0.3, 0.5], [0.4, 0.1, 0.2, 0.3, 0.5]]
    m = retrieval_metrics(distances, ["a", "b"], ["a", "b", "a", "c", "d"], max_rank=6)
    assert m["mAP"] == pytest.approx(0.75) and m["num_valid_queries"] == 2
    assert m["cmc"].tolist() == [0.5, 1, 1, 1, 1, 1]  # length max_rank, past the gallery size too
    assert (m["rank1"], m["rank5"], m["rank10"]) == (0.5, 1.0, 1.0)


def test_same_camera_exclusion_changes_the_answer():
    # Query a on camera 0; gallery (id, cam, distance): a0 .1, c0 .15, b1 .2, a1 .3, a0 .4.
    distances = [[0.1, 0.15, 0.2, 0.3, 0.4]]
    ids, cams = ["a", "c", "b", "a", "a"], [0, 0, 1, 1, 0]
    # Without cameras: matches at ranks 1, 4, 5 -> AP = (1/1 + 2/4 + 3/5) / 3 = 0.7, rank-1 hit.
    m = retrieval_metrics(distances, ["a"], ids)
    assert m["mAP"] == pytest.approx(0.7) and m["rank1"] == 1.0
    # With cameras: a0 entries removed, c0 (other identity, same camera) kept -> c0 b1 a1:
    # the only match at rank 3 -> AP = 1/3, CMC 0, 0, 1.
    m = retrieval_metrics(distances, ["a"], ids, [0], cams, max_rank=3)
    assert m["mAP"] == pytest.approx(1 / 3) and m["cmc"].tolist() == [0, 0, 1] and m["rank1"] == 0.0


def test_queries_without_a_true_match_are_left_out():
    distances = [[0.1, 0.2], [0.2, 0.1], [0.3, 0.4]]
    # Query "z" has no match in the gallery; query "x" only one on its own camera.
    m = retrieval_metrics(distances, ["x", "y", "z"], ["x", "y"], [0, 0, 0], [0, 1])
    assert m["num_valid_queries"] == 1 and m["rank1"] == 1.0 and m["mAP"] == 1.0
    m = retrieval_metrics(distances, ["x", "y", "z"], ["x", "y"])
    assert m["num_valid_queries"] == 2 and m["mAP"] == 1.0
    none = retrieval_metrics(distances, [7, 8, 9], [1, 2])
    assert none["num_valid_queries"] == 0 and np.isnan(none["mAP"]) and np.isnan(none["rank1"])
    assert np.isnan(none["cmc"]).all()
    assert retrieval_metrics(np.zeros((2, 0)), [1, 2], [])["num_valid_queries"] == 0


def test_perfect_retrieval_is_one():
    # 3 identities, 2 gallery entries each, every true match nearer than any other entry.
    gallery = np.repeat([0, 1, 2], 2)
    distances = np.where(gallery[None, :] == np.arange(3)[:, None], 0.1, 0.9)
    m = retrieval_metrics(distances, [0, 1, 2], gallery)
    assert m["rank1"] == m["rank5"] == m["rank10"] == m["mAP"] == 1.0
    assert m["cmc"].tolist() == [1.0] * 10


def test_ties_keep_gallery_order():
    # Equal distances: the gallery order decides, so the match at index 1 ranks second.
    m = retrieval_metrics([[0.5, 0.5, 0.5]], [1], [0, 1, 0])
    assert m["rank1"] == 0.0 and m["mAP"] == pytest.approx(0.5)


def test_chunked_queries_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(0)
    distances = rng.random((40, 30))
    args = (distances, rng.integers(0, 8, 40), rng.integers(0, 8, 30), rng.integers(0, 3, 40), rng.integers(0, 3, 30))
    whole = retrieval_metrics(*args)
    monkeypatch.setattr(reid_metrics, "_CHUNK_ENTRIES", 70)  # 2 queries at a time
    chunked = retrieval_metrics(*args)
    assert whole["num_valid_queries"] == chunked["num_valid_queries"] > 0
    np.testing.assert_allclose(whole["cmc"], chunked["cmc"])
    assert whole["mAP"] == pytest.approx(chunked["mAP"])


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"distances: expected a 2-D"):
        retrieval_metrics(np.zeros(3), [1], [1, 2, 3])
    with pytest.raises(ValueError, match=r"gallery_ids: expected a 1-D array of shape \(3,\)"):
        retrieval_metrics(np.zeros((1, 3)), [1], [1, 2])
    with pytest.raises(ValueError, match=r"query_ids: expected a 1-D array of shape \(1,\)"):
        retrieval_metrics(np.zeros((1, 3)), [[1]], [1, 2, 3])
    with pytest.raises(ValueError, match="give both"):
        retrieval_metrics(np.zeros((1, 3)), [1], [1, 2, 3], query_cams=[0])
    with pytest.raises(ValueError, match=r"query_cams: expected a 1-D array of shape \(1,\)"):
        retrieval_metrics(np.zeros((1, 3)), [1], [1, 2, 3], [0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="contains NaN"):
        retrieval_metrics([[np.nan]], [1], [1])
    with pytest.raises(ValueError, match="max_rank: expected a positive integer"):
        retrieval_metrics([[0.0]], [1], [1], max_rank=0)
