"""OUTrack's unsupervised ReID loss (Eq. 1-8, Sec. 3.1) against plain transcriptions of
the paper's formulas, and what it teaches an embedding without labels."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.structures import Instances
from torch import nn

from mot_heads import add_mot_config
from mot_heads.modeling.one_shot.id_losses import ID_LOSS_REGISTRY
from mot_heads.modeling.one_shot.unsupervised_id import (
    UnsupervisedIDLoss, adaptive_temperature, association_matrix, cycle_term, inter_frame_term, intra_frame_term,
    negative_pair_loss, negative_pairs, negative_term, positive_pair_losses, round_trip_term, similarity_matrix,
)

# A hand-made M' of two frames of two objects each (rows 0, 1: frame t-1; rows 2, 3:
# frame t) and the placeholder column; rows sum to 1, zero diagonal, not symmetric.
# Row 0: the margin of Eq. 4 is active (0.2 + 0.5 - 0.6 > 0); row 1: met (0.05 + 0.5 -
# 0.6 < 0), its largest other entry in its own frame (0.3, not a candidate of Eq. 4);
# row 2: met; row 3: active only with a large margin.
M4 = [[0.0, 0.1, 0.6, 0.2, 0.1],
      [0.3, 0.0, 0.05, 0.05, 0.6],
      [0.75, 0.05, 0.0, 0.05, 0.15],
      [0.1, 0.02, 0.08, 0.0, 0.8]]


# ---- the paper's formulas, transcribed (plain Python on lists) ----

def paper_similarity(features):
    """Eq. 1: S_ij = f_i f_j / (|f_i| |f_j|) if i != j, -inf otherwise (None here)."""
    f = [np.asarray(v, float) for v in features]
    return [[None if i == j else float(f[i] @ f[j] / (np.linalg.norm(f[i]) * np.linalg.norm(f[j])))
             for j in range(len(f))] for i in range(len(f))]


def paper_assignment(features, placeholder="mean"):
    """Eq. 2 on S' (Sec. 3.1.1): the placeholder column p ("the dynamic mean of the values
    in S except the diagonal values", Sec. 4.3.1; or 0; or none), row-wise softmax of S_ij T
    with T = 2 log(C + 1), C the columns (footnote 3: N + 1 with the placeholder)."""
    s = paper_similarity(features)
    n = len(s)
    rows = [list(r) for r in s]
    if placeholder != "none":
        off = [x for r in s for x in r if x is not None]
        p = sum(off) / len(off) if placeholder == "mean" else 0.0
        rows = [r + [p] for r in rows]
    t = 2 * math.log(len(rows[0]) + 1)
    out = []
    for r in rows:
        exps = [0.0 if x is None else math.exp(x * t) for x in r]
        out.append([e / sum(exps) for e in exps])
    assert len(out) == n
    return out


def paper_intra(m, n1):
    """Eq. 3: sum of M_ij over 0 <= i < j < N1 and over N1 <= i < j < N."""
    n = len(m)
    return (sum(m[i][j] for i in range(n1) for j in range(i + 1, n1))
            + sum(m[i][j] for i in range(n1, n) for j in range(i + 1, n)))


def paper_inter(m, n1, margin):
    """Eq. 4: sum over rows i of max{max_{j' != j*} M_ij' + m - M_ij*, 0}, j* = argmax_j M_ij.

    Which j: "for each row in M, we encourage each object to be matched to another object
    with a high confidence by using the below inter-frame margin loss", after "all the
    objects in the frame I^{t-1} should be matched to the objects in the frame I^t". We
    take j over the other frame's objects and the placeholder (the term is inter-frame; Eq.
    3 already rules the own frame's objects out); over the whole row, the margin rewards a
    confident match inside the own frame, against Eq. 3. A row with a single candidate has
    runner-up 0; a row with none gives no term."""
    n = len(m)
    total = 0.0
    for i, row in enumerate(m):
        other = range(n1, n) if i < n1 else range(n1)
        candidates = [row[j] for j in other] + row[n:]
        if not candidates:
            continue
        best = max(range(len(candidates)), key=lambda j: candidates[j])
        runner_up = max([candidates[j] for j in range(len(candidates)) if j != best], default=0.0)
        total += max(runner_up + margin - candidates[best], 0.0)
    return total


def paper_cycle(m, n1):
    """Eq. 5: sum over N1 <= i < N, 0 <= j < N1 of |M_ij - M_ji|."""
    return sum(abs(m[i][j] - m[j][i]) for i in range(n1, len(m)) for j in range(n1))


def paper_negative(m):
    """Eq. 7: sum over 0 <= i, j < N of M'_ij (every column but the placeholder)."""
    n = len(m)
    return sum(m[i][j] for i in range(n) for j in range(n))


def paper_positive(features1, features2, margin=0.5, placeholder="mean"):
    """Eq. 6: (intra + inter + cycle) / (N1 + N2) of one positive pair, on M'."""
    m = paper_assignment(list(features1) + list(features2), placeholder)
    n1, n = len(features1), len(features1) + len(features2)
    return (paper_intra(m, n1) + paper_inter(m, n1, margin) + paper_cycle(m, n1)) / n


def as_tensor(m):
    return torch.tensor(m, dtype=torch.float64)


def total(out):
    return sum(v.item() for v in out.values())


def frame_inputs(video_ids):
    """Flattened pair inputs [first_0, second_0, ...], one video per pair."""
    out = []
    for k, video in enumerate(video_ids):
        second = {"video_id": video, "frame_idx": 5, "file_name": f"{video}/5.jpg"}
        out += [{"video_id": video, "frame_idx": 0, "file_name": f"{video}/0.jpg", "pair": second}, second]
    return out


def targets_for(embeddings, track_ids=None):
    out = []
    for i, e in enumerate(embeddings):
        t = Instances((32, 32))
        if track_ids is not None:
            t.gt_track_ids = torch.as_tensor(track_ids[i], dtype=torch.int64)
        out.append(t)
    return out


FEATURES = torch.tensor([[1.0, 0.0, 0.2], [0.0, 2.0, 0.1], [0.6, 0.8, 0.0], [0.9, 0.1, -0.3], [-0.2, 0.5, 1.0]])


# ---- Eq. 1-2 ----

def test_eq_2_adaptive_temperature():
    # Eq. 2, OUTrack: T = 2 log(C + 1); footnote 3: C = N + 1 with the placeholder column
    assert adaptive_temperature(3) == pytest.approx(2 * math.log(4))
    assert adaptive_temperature(10) == pytest.approx(2 * math.log(11))


def test_eq_1_similarity_matrix():
    sim = similarity_matrix(FEATURES)
    expected = paper_similarity(FEATURES.tolist())
    for i in range(5):
        for j in range(5):
            if expected[i][j] is None:
                assert sim[i, j] == float("-inf")
            else:
                assert sim[i, j].item() == pytest.approx(expected[i][j], abs=1e-6)


@pytest.mark.parametrize("placeholder", ["mean", "zero", "none"])
def test_eq_2_assignment_matrix(placeholder):
    assoc = association_matrix(FEATURES, placeholder)
    expected = paper_assignment(FEATURES.tolist(), placeholder)
    assert assoc.shape == (5, 6 if placeholder != "none" else 5)
    np.testing.assert_allclose(assoc.numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="placeholder"):
        association_matrix(FEATURES, "median")


def test_association_matrix_with_one_object():
    # no off-diagonal entry: the placeholder is 0 (ours) and takes all the mass
    assert association_matrix(torch.tensor([[1.0, 2.0]]), "mean").tolist() == [[0.0, 1.0]]
    # no placeholder: the lone row has no candidate at all and no probability
    assert association_matrix(torch.tensor([[1.0, 2.0]]), "none").tolist() == [[0.0]]


def test_placeholder_mean_is_detached():
    # ours (the paper is silent): the dynamic mean is a data-dependent threshold, no gradient
    features = FEATURES.clone().requires_grad_()
    association_matrix(features, "mean")[:, -1].sum().backward()
    with_value = FEATURES.clone().requires_grad_()
    unit = with_value / with_value.norm(dim=1, keepdim=True)
    cos = unit @ unit.T
    off = ~torch.eye(5, dtype=torch.bool)
    logits = torch.cat([cos.masked_fill(~off, -math.inf), cos[off].mean().detach().expand(5, 1)], 1)
    torch.softmax(logits * 2 * math.log(7), 1)[:, -1].sum().backward()
    assert torch.allclose(features.grad, with_value.grad, atol=1e-6)


# ---- Eq. 3-7 on the hand-made M' ----

@pytest.mark.parametrize("n1", [1, 2, 3])
def test_eq_3_intra_frame_term_sums_i_less_than_j_within_each_frame(n1):
    # n1 = 2: M[0][1] + M[2][3] = 0.1 + 0.05 (not M[1][0] nor M[3][2])
    assert intra_frame_term(as_tensor(M4), n1).item() == pytest.approx(paper_intra(M4, n1)), \
        f"Eq. 3 with N1 = {n1}"


@pytest.mark.parametrize("margin", [0.5, 0.05, 0.9])
def test_eq_4_inter_frame_margin_over_each_row(margin):
    # margin 0.5: row 0 only (0.2 + 0.5 - 0.6); margin 0.05: none; margin 0.9: every row
    assert inter_frame_term(as_tensor(M4), 2, margin).item() == pytest.approx(paper_inter(M4, 2, margin)), \
        f"Eq. 4 with m = {margin}"


@pytest.mark.parametrize("n1", [1, 2, 3])
def test_eq_5_cycle_term_is_the_asymmetry_between_the_frames(n1):
    # n1 = 2: |0.75 - 0.6| + |0.05 - 0.05| + |0.1 - 0.2| + |0.02 - 0.05| = 0.28
    assert cycle_term(as_tensor(M4), n1).item() == pytest.approx(paper_cycle(M4, n1)), f"Eq. 5 with N1 = {n1}"


def test_eq_5_cycle_term_of_a_uniform_assignment_is_zero():
    uniform = [[0.0 if i == j else 0.25 for j in range(5)] for i in range(4)]
    assert paper_cycle(uniform, 2) == 0.0
    assert cycle_term(as_tensor(uniform), 2).item() == pytest.approx(0.0), "Eq. 5 of a uniform M'"


def test_round_trip_option_is_the_off_diagonal_mass_of_the_two_way_products():
    # ours: the "round_trip" option, A = M[frame t-1, frame t], B = M[frame t, frame t-1]
    a, b = np.asarray(M4)[:2, 2:4], np.asarray(M4)[2:, :2]
    expected = sum(x.sum() - np.trace(x) for x in (a @ b, b @ a))
    assert round_trip_term(as_tensor(M4), 2).item() == pytest.approx(expected)


def test_eq_7_negative_term():
    assert negative_term(as_tensor(M4)).item() == pytest.approx(paper_negative(M4)), "Eq. 7"
    value = negative_pair_loss(FEATURES[:2], FEATURES[2:], "mean")
    assert value.item() == pytest.approx(paper_negative(paper_assignment(FEATURES.tolist())) / 5, rel=1e-5)
    with pytest.raises(ValueError, match="placeholder"):
        negative_pair_loss(FEATURES[:2], FEATURES[2:], "none")


def test_birth_and_death_are_free_to_go_to_the_placeholder():
    # frame t-1: a, b; frame t: a' only (b left). Columns a, b, a', placeholder.
    b_to_placeholder = [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]
    b_to_a = [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]

    def terms(m):
        return intra_frame_term(as_tensor(m), 2) + inter_frame_term(as_tensor(m), 2, 0.5) + cycle_term(as_tensor(m), 2)
    assert terms(b_to_placeholder).item() == 0.0
    assert terms(b_to_a).item() == pytest.approx(1.0)  # Eq. 5: |M[2][1] - M[1][2]| = 1
    # with embeddings: b orthogonal to a' scores lower than b close to a'
    a, a_moved = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.99, 0.1, 0.0]])
    gone = positive_pair_losses(torch.cat([a, torch.tensor([[0.0, 0.0, 1.0]])]), a_moved)
    confused = positive_pair_losses(torch.cat([a, torch.tensor([[0.95, 0.3, 0.0]])]), a_moved)
    assert sum(gone.values()) < sum(confused.values())


@pytest.mark.parametrize("placeholder", ["mean", "zero", "none"])
def test_eq_6_positive_pair_loss(placeholder):
    losses = positive_pair_losses(FEATURES[:2], FEATURES[2:], placeholder, 0.5)
    assert sum(losses.values()).item() == pytest.approx(
        paper_positive(FEATURES[:2].tolist(), FEATURES[2:].tolist(), 0.5, placeholder), rel=1e-5), "Eq. 6"


def test_negative_pairs_of_a_batch():
    assert negative_pairs(frame_inputs(["v0"])) == []
    assert negative_pairs(frame_inputs(["v0", "v1"])) == [(0, 2)]
    assert negative_pairs(frame_inputs(["v0", "v1", "v2"])) == [(0, 2), (2, 4), (4, 0)]
    assert negative_pairs(frame_inputs(["v0", "v1", "v1"])) == [(0, 2), (4, 0)]  # (2, 4): one video
    images = [{"file_name": "x.jpg", "pair": {}}, {}, {"file_name": "x.jpg", "pair": {}}, {},
              {"file_name": "y.jpg", "video_id": "v", "pair": {}}, {}]
    assert negative_pairs(images) == [(2, 4), (4, 0)]  # without a video id: the same file is no negative


def test_eq_8_module_weights_positive_and_negative_pairs_by_their_shares():
    torch.manual_seed(0)
    embeddings = [torch.randn(n, 4) for n in (3, 2, 2, 2, 0, 0)]  # the last pair has no object
    inputs = frame_inputs(["v0", "v1", "v2"])
    out = UnsupervisedIDLoss(placeholder="mean", margin=0.5, negative_ratio=0.25)(
        embeddings, targets_for(embeddings), None, inputs)
    assert set(out) == {"loss_id_intra", "loss_id_inter", "loss_id_cycle", "loss_id_negative"}
    e = [x.tolist() for x in embeddings]
    # L_pos: Eq. 6 averaged over the positive pairs with objects (pairs 0 and 1)
    positive = (paper_positive(e[0], e[1]) + paper_positive(e[2], e[3])) / 2
    # L_neg: Eq. 7 over N, averaged over the negative pairs (0, 2), (2, 4), (4, 0)
    negative = sum(paper_negative(paper_assignment(e[i] + e[j])) / (len(e[i]) + len(e[j]))
                   for i, j in ((0, 2), (2, 4), (4, 0))) / 3
    # Eq. 8: N_pos / (N_pos + N_neg) L_pos + N_neg / (N_pos + N_neg) L_neg with N_neg / N_pos = 0.25
    assert total(out) == pytest.approx(positive / 1.25 + 0.25 * negative / 1.25, rel=1e-5), "Eq. 8"
    # without negative pairs (ratio 0, or a single pair), L_id = L_pos
    no_negatives = UnsupervisedIDLoss(negative_ratio=0.0)(embeddings, targets_for(embeddings), None, inputs)
    assert total(no_negatives) == pytest.approx(positive, rel=1e-5)
    alone = UnsupervisedIDLoss()(embeddings[:2], targets_for(embeddings[:2]), None, frame_inputs(["v0"]))
    assert total(alone) == pytest.approx(paper_positive(e[0], e[1]), rel=1e-5)


def test_module_with_no_object_returns_zeros_with_a_graph():
    embeddings = [torch.zeros(0, 4, requires_grad=True) for _ in range(4)]
    out = UnsupervisedIDLoss()(embeddings, targets_for(embeddings), None, frame_inputs(["v0", "v1"]))
    assert all(v.item() == 0.0 and v.requires_grad for v in out.values())


def test_none_placeholder_option():
    with pytest.raises(ValueError, match="NEGATIVE_RATIO"):
        UnsupervisedIDLoss(placeholder="none", negative_ratio=0.25)
    with pytest.raises(ValueError, match="PLACEHOLDER"):
        UnsupervisedIDLoss(placeholder="median")
    loss = UnsupervisedIDLoss(placeholder="none", negative_ratio=0.0)
    embeddings = [FEATURES[:2], FEATURES[2:], torch.tensor([[1.0, 1.0, 0.0]]), torch.zeros(0, 3)]
    out = loss(embeddings, targets_for(embeddings), None, frame_inputs(["v0", "v1"]))
    # the lone object of the second pair has no candidate at all: that pair gives 0
    expected = paper_positive(FEATURES[:2].tolist(), FEATURES[2:].tolist(), 0.5, "none") / 2
    assert total(out) == pytest.approx(expected, rel=1e-5)
    assert out["loss_id_negative"].item() == 0.0


def test_track_ids_are_never_read():
    torch.manual_seed(1)
    embeddings = [torch.randn(n, 8) for n in (3, 3, 2, 4)]
    inputs = frame_inputs(["v0", "v1"])
    loss = UnsupervisedIDLoss()
    with_ids = loss(embeddings, targets_for(embeddings, [[0, 1, 2], [0, 1, 2], [5, 6], [5, 6, 7, 8]]), None, inputs)
    shuffled = loss(embeddings, targets_for(embeddings, [[2, 0, 1], [9, 9, 9], [6, 5], [1, 2, 3, 4]]), None, inputs)
    without = loss(embeddings, targets_for(embeddings), None, inputs)
    for name, value in with_ids.items():
        assert value.item() == shuffled[name].item() == without[name].item()


def test_batch_without_pairs_raises():
    loss = UnsupervisedIDLoss()
    three = [torch.randn(2, 4) for _ in range(3)]
    with pytest.raises(ValueError, match="VideoPairMapper"):
        loss(three, targets_for(three), None, frame_inputs(["v0", "v1"])[:3])
    two = three[:2]
    with pytest.raises(ValueError, match="VideoPairMapper"):
        loss(two, targets_for(two), None, [{"video_id": "v0"}, {"video_id": "v0"}])


def test_built_from_config_and_backpropagates():
    cfg = add_mot_config(get_cfg())
    unsupervised = cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED
    # Sec. 3.1.1: m = 0.5, p the dynamic mean; Sec. 3.1.2: N_neg / N_pos = 0.25; Eq. 5
    assert (unsupervised.PLACEHOLDER, unsupervised.MARGIN, unsupervised.NEGATIVE_RATIO, unsupervised.CYCLE) == (
        "mean", 0.5, 0.25, "difference")
    cfg.MODEL.ONE_SHOT.ID_LOSS.NAME = "UnsupervisedIDLoss"
    loss = ID_LOSS_REGISTRY.get(cfg.MODEL.ONE_SHOT.ID_LOSS.NAME)(cfg, cfg.MODEL.ONE_SHOT.EMBED_DIM)
    assert (loss.placeholder, loss.margin, loss.negative_ratio, loss.cycle) == ("mean", 0.5, 0.25, "difference")
    torch.manual_seed(2)
    embeddings = [torch.randn(n, 16, requires_grad=True) for n in (3, 2, 2, 3)]
    out = loss(embeddings, targets_for(embeddings), None, frame_inputs(["v0", "v1"]))
    assert set(out) == {"loss_id_intra", "loss_id_inter", "loss_id_cycle", "loss_id_negative"}
    assert all(v.item() > 0 for v in out.values())
    sum(out.values()).backward()
    for e in embeddings:
        assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0
    cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.CYCLE = "round_trip"
    variant = ID_LOSS_REGISTRY.get("UnsupervisedIDLoss")(cfg, 16)
    m = association_matrix(torch.cat(embeddings[:2]).detach(), "mean")
    assert variant(embeddings, targets_for(embeddings), None, frame_inputs(["v0", "v1"]))[
        "loss_id_cycle"].item() > 0 and round_trip_term(m, 3).item() != cycle_term(m, 3).item()
    for key, value in (("PLACEHOLDER", "max"), ("CYCLE", "loop")):
        cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED[key] = value
        with pytest.raises(ValueError, match=key):
            ID_LOSS_REGISTRY.get("UnsupervisedIDLoss")(cfg, 16)
        cfg = add_mot_config(get_cfg())


def test_identity_preserving_pair_beats_a_collapsed_one():
    torch.manual_seed(3)
    identities = torch.eye(8)[:4] * 3.0  # four distinct objects
    preserving = [identities, identities + 0.05 * torch.randn(4, 8)]
    collapsed = [torch.ones(4, 8), torch.ones(4, 8)]
    loss = UnsupervisedIDLoss(negative_ratio=0.0)
    good = total(loss(preserving, targets_for(preserving), None, frame_inputs(["v0"])))
    bad = total(loss(collapsed, targets_for(collapsed), None, frame_inputs(["v0"])))
    # collapsed: every row of M' uniform (1/8) off the diagonal: intra 12 / 8, inter 8 * 0.5, cycle 0
    assert bad == pytest.approx(paper_positive(collapsed[0].tolist(), collapsed[1].tolist()), rel=1e-5)
    assert bad == pytest.approx((12 / 8 + 4.0) / 8, rel=1e-5)
    assert good < 0.1 * bad


def observed_pair(generator, objects=6, identity_dim=8, nuisance_dim=32):
    """Two views of the same objects: their identity features (slightly noisy) beside
    strong per-view nuisance features; the second view shuffled by ``order`` (its row j
    shows object ``order[j]``), which the loss never sees."""
    identity = torch.randn(objects, identity_dim, generator=generator)

    def view():
        return torch.cat([identity + 0.1 * torch.randn(objects, identity_dim, generator=generator),
                          1.5 * torch.randn(objects, nuisance_dim, generator=generator)], dim=1)

    order = torch.randperm(objects, generator=generator)
    return view(), view()[order], order


def matching_accuracy(embed, seed, pairs=50):
    """How often an object's nearest embedding (cosine) in the other view is itself."""
    generator = torch.Generator().manual_seed(seed)
    hits = total = 0
    with torch.no_grad():
        for _ in range(pairs):
            first, second, order = observed_pair(generator)
            nearest = (F.normalize(embed(first), dim=1) @ F.normalize(embed(second), dim=1).T).argmax(dim=1)
            hits += int((order[nearest] == torch.arange(len(first))).sum())
            total += len(first)
    return hits / total


@pytest.mark.slow
def test_the_loss_alone_teaches_an_embedding_to_match_objects_across_views():
    torch.manual_seed(0)
    embed = nn.Linear(40, 16)
    before = matching_accuracy(embed, seed=1)
    optimizer = torch.optim.Adam(embed.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(2)
    for _ in range(600):
        first, second, _ = observed_pair(generator)
        loss = sum(positive_pair_losses(embed(first), embed(second)).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = matching_accuracy(embed, seed=1)
    # random projections keep the nuisance (accuracy 0.25); the loss learns to drop it (0.997)
    assert before < 0.5 and after > 0.95


def test_outrack_paper_config_has_the_stated_constants():
    cfg = add_mot_config(get_cfg())
    cfg.merge_from_file("configs/OUTrack/outrack_DLA34.yaml")
    one_shot = cfg.MODEL.ONE_SHOT
    # Sec. 4.1: "The dimension D of Re-ID feature is set to 256"
    assert one_shot.EMBED_DIM == 256, "Sec. 4.1: D = 256"
    # Sec. 3.1.1-3.1.2: m = 0.5, p the dynamic mean, Eq. 5; N_neg / N_pos = 0.25
    unsupervised = one_shot.ID_LOSS.UNSUPERVISED
    assert (one_shot.ID_LOSS.NAME, unsupervised.PLACEHOLDER, unsupervised.MARGIN, unsupervised.NEGATIVE_RATIO,
            unsupervised.CYCLE) == ("UnsupervisedIDLoss", "mean", 0.5, 0.25, "difference")
    # Eq. 9: tau = 0.7; Sec. 4.1: 3x3 conv to 256 channels, L_occ weighted 0.5; Eq. 12: alpha 2, beta 4
    occlusion = one_shot.OCCLUSION
    assert (occlusion.ENABLED, occlusion.OVERLAP_THRESHOLD, occlusion.HEAD_CONV, occlusion.LOSS_WEIGHT) == (
        True, 0.7, 256, 0.5)
    assert (one_shot.FOCAL_ALPHA, one_shot.FOCAL_BETA) == (2.0, 4.0)
    # Sec. 4.1: Adam, initial learning rate 1e-4; positive pairs "randomly sampled from
    # consecutive 20 frames" (two frames of a run of 20 are at most 19 apart)
    assert (cfg.SOLVER.OPTIMIZER, cfg.SOLVER.BASE_LR) == ("ADAM", 1e-4)
    # "trained for 30 epochs": each frame of the training set a pair's first frame once an epoch
    assert cfg.SOLVER.EPOCHS == 30
    assert (cfg.INPUT.TRAIN_MAPPER, cfg.INPUT.PAIR.MAX_FRAMES) == ("VideoPairMapper", 19)
    # Sec. 4.4: "A higher detection confidence (0.5) is used in OTrack_fm"
    assert (cfg.TRACKER.NAME, cfg.TRACKER.PARAMS[0]) == ("outrack", "det_threshold=0.5")
