"""OUTrack's unsupervised ReID loss (Eq. 1-8) against hand computations, and what it
teaches an embedding without labels."""
import math

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
    negative_pair_loss, negative_pairs, negative_term, positive_pair_losses, similarity_matrix,
)

# 2 + 1 unit vectors in 2-D: cos(a, b) = 0, cos(a, c) = 0.6, cos(b, c) = 0.8
FRAME1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # a, b (b un-normalised on purpose)
FRAME2 = torch.tensor([[0.6, 0.8]])  # c
COS = [[None, 0.0, 0.6], [0.0, None, 0.8], [0.6, 0.8, None]]

# a hand-made association matrix: 2 + 1 objects and a placeholder column
M = torch.tensor([[0.0, 0.1, 0.6, 0.3],
                  [0.2, 0.0, 0.5, 0.3],
                  [0.3, 0.4, 0.0, 0.3]])


def softmax_row(logits):
    exps = [0.0 if x is None else math.exp(x) for x in logits]
    return [e / sum(exps) for e in exps]


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


def test_adaptive_temperature():
    assert adaptive_temperature(3) == pytest.approx(2 * math.log(4))
    assert adaptive_temperature(10) == pytest.approx(2 * math.log(11))


def test_similarity_matrix_has_cosines_and_minus_inf_diagonal():
    sim = similarity_matrix(torch.cat([FRAME1, FRAME2]))
    for i in range(3):
        assert sim[i, i] == float("-inf")
        for j in range(3):
            if i != j:
                assert sim[i, j].item() == pytest.approx(COS[i][j], abs=1e-6)


def test_association_matrix_with_mean_placeholder_by_hand():
    assoc = association_matrix(torch.cat([FRAME1, FRAME2]), "mean")
    assert assoc.shape == (3, 4)
    mean = (0.0 + 0.6 + 0.0 + 0.8 + 0.6 + 0.8) / 6  # the off-diagonal entries of S
    t = 2 * math.log(5)  # C = 4 columns with the placeholder
    for i in range(3):
        expected = softmax_row([None if x is None else t * x for x in COS[i]] + [t * mean])
        assert assoc[i].tolist() == pytest.approx(expected, abs=1e-6)
    assert torch.allclose(assoc.sum(1), torch.ones(3)) and (assoc.diagonal() == 0).all()


def test_association_matrix_zero_and_none_placeholders_by_hand():
    features = torch.cat([FRAME1, FRAME2])
    zero = association_matrix(features, "zero")
    t = 2 * math.log(5)
    assert zero[2].tolist() == pytest.approx(softmax_row([t * 0.6, t * 0.8, None, 0.0]), abs=1e-6)
    none = association_matrix(features, "none")
    assert none.shape == (3, 3)
    t = 2 * math.log(4)  # C = 3: no placeholder column
    assert none[0].tolist() == pytest.approx(softmax_row([None, 0.0, t * 0.6]), abs=1e-6)
    with pytest.raises(ValueError, match="placeholder"):
        association_matrix(features, "median")


def test_association_matrix_with_one_object():
    # no off-diagonal entry: the placeholder is 0 and takes all the mass
    assert association_matrix(torch.tensor([[1.0, 2.0]]), "mean").tolist() == [[0.0, 1.0]]
    # no placeholder: the lone row has no candidate at all and no probability
    assert association_matrix(torch.tensor([[1.0, 2.0]]), "none").tolist() == [[0.0]]


def test_placeholder_mean_is_detached():
    features = torch.cat([FRAME1, FRAME2]).requires_grad_()
    association_matrix(features, "mean")[:, -1].sum().backward()
    # only the placeholder's normaliser depends on the features, not its logit
    with_value = torch.cat([FRAME1, FRAME2]).requires_grad_()
    sim = similarity_matrix(with_value)
    off = sim[~torch.eye(3, dtype=torch.bool)]
    logits = torch.cat([sim, off.mean().detach().expand(3, 1)], 1) * 2 * math.log(5)
    torch.softmax(logits, 1)[:, -1].sum().backward()
    assert torch.allclose(features.grad, with_value.grad)


def test_intra_frame_term_by_hand():
    assert intra_frame_term(M, 2).item() == pytest.approx(0.1 + 0.2)  # row 2 has no other object in frame 2
    assert intra_frame_term(M, 1).item() == pytest.approx(0.5 + 0.4)  # frame 2 = rows 1, 2: M[1,2] + M[2,1]


def test_inter_frame_margin_term_by_hand():
    # candidates: row 0 {0.6, 0.3}, row 1 {0.5, 0.3}, row 2 {0.3, 0.4, 0.3}
    expected = (0.5 - 0.3) + (0.5 - 0.2) + (0.5 - 0.1)
    assert inter_frame_term(M, 2, 0.5).item() == pytest.approx(expected)
    assert inter_frame_term(M, 2, 0.05).item() == 0.0  # every winner is clear by more than 0.05


def test_inter_frame_margin_term_with_one_candidate_and_none():
    no_placeholder = torch.tensor([[0.0, 0.3, 0.7], [0.4, 0.0, 0.6], [0.5, 0.5, 0.0]])
    # rows 0, 1 have one candidate (v2 = 0); row 2 two equal ones
    assert inter_frame_term(no_placeholder, 2, 0.9).item() == pytest.approx((0.9 - 0.7) + (0.9 - 0.6) + 0.9)
    # frame 2 empty and no placeholder: no candidate, no term
    assert inter_frame_term(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 2, 0.5).item() == 0.0


def test_cycle_term_by_hand():
    # A = [[.6], [.5]], B = [[.3, .4]]: AB = [[.18, .24], [.15, .20]], BA = [[.38]]
    assert cycle_term(M, 2).item() == pytest.approx(0.24 + 0.15)


def test_birth_and_death_are_free_to_go_to_the_placeholder():
    # frame 1: a, b; frame 2: a' only (b left). Columns a, b, a', placeholder.
    b_to_placeholder = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    b_to_a = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])

    def total(assoc):
        return intra_frame_term(assoc, 2) + inter_frame_term(assoc, 2, 0.5) + cycle_term(assoc, 2)
    assert total(b_to_placeholder).item() == 0.0
    assert total(b_to_a).item() == pytest.approx(1.0)  # a -> a' -> a and b -> a' -> a: one wrong return
    # with embeddings: b orthogonal to a' scores lower than b close to a'
    a, a_moved = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.99, 0.1, 0.0]])
    gone = positive_pair_losses(torch.cat([a, torch.tensor([[0.0, 0.0, 1.0]])]), a_moved)
    confused = positive_pair_losses(torch.cat([a, torch.tensor([[0.95, 0.3, 0.0]])]), a_moved)
    assert sum(gone.values()) < sum(confused.values())


def test_positive_pair_losses_are_the_terms_over_n():
    losses = positive_pair_losses(FRAME1, FRAME2, "mean", 0.5)
    assoc = association_matrix(torch.cat([FRAME1, FRAME2]), "mean")
    assert losses["intra"].item() == pytest.approx(intra_frame_term(assoc, 2).item() / 3)
    assert losses["inter"].item() == pytest.approx(inter_frame_term(assoc, 2, 0.5).item() / 3)
    assert losses["cycle"].item() == pytest.approx(cycle_term(assoc, 2).item() / 3)


def test_negative_term_by_hand():
    assoc = torch.tensor([[0.0, 0.2, 0.5, 0.3], [0.1, 0.0, 0.1, 0.8], [0.3, 0.3, 0.0, 0.4]])
    assert negative_term(assoc).item() == pytest.approx(0.7 + 0.2 + 0.6)
    value = negative_pair_loss(FRAME1, FRAME2, "mean")
    assoc = association_matrix(torch.cat([FRAME1, FRAME2]), "mean")
    assert value.item() == pytest.approx((3 - assoc[:, -1].sum().item()) / 3)
    with pytest.raises(ValueError, match="placeholder"):
        negative_pair_loss(FRAME1, FRAME2, "none")


def test_negative_pairs_of_a_batch():
    assert negative_pairs(frame_inputs(["v0"])) == []
    assert negative_pairs(frame_inputs(["v0", "v1"])) == [(0, 2)]
    assert negative_pairs(frame_inputs(["v0", "v1", "v2"])) == [(0, 2), (2, 4), (4, 0)]
    assert negative_pairs(frame_inputs(["v0", "v1", "v1"])) == [(0, 2), (4, 0)]  # (2, 4): one video
    images = [{"file_name": "x.jpg", "pair": {}}, {}, {"file_name": "x.jpg", "pair": {}}, {},
              {"file_name": "y.jpg", "video_id": "v", "pair": {}}, {}]
    assert negative_pairs(images) == [(2, 4), (4, 0)]  # without a video id: the same file is no negative


def test_module_mixes_positive_and_negative_terms_with_the_ratio():
    torch.manual_seed(0)
    embeddings = [torch.randn(n, 4) for n in (3, 2, 2, 2, 0, 0)]  # the last pair has no object
    inputs = frame_inputs(["v0", "v1", "v2"])
    loss = UnsupervisedIDLoss(placeholder="mean", margin=0.5, negative_ratio=0.25)
    out = loss(embeddings, targets_for(embeddings), None, inputs)
    assert set(out) == {"loss_id_intra", "loss_id_inter", "loss_id_cycle", "loss_id_negative"}
    pairs = [positive_pair_losses(embeddings[k], embeddings[k + 1], "mean", 0.5) for k in (0, 2)]
    for name in ("intra", "inter", "cycle"):  # Eq. 6: averaged over the pairs with objects
        assert out[f"loss_id_{name}"].item() == pytest.approx((pairs[0][name] + pairs[1][name]).item() / 2)
    # Eq. 8: negatives (0, 2), (2, 4), (4, 0); (2, 4) and (4, 0) have the objects of one image only
    negatives = [negative_pair_loss(embeddings[i], embeddings[j]) for i, j in ((0, 2), (2, 4), (4, 0))]
    assert out["loss_id_negative"].item() == pytest.approx(0.25 * sum(negatives).item() / 3)
    no_negatives = UnsupervisedIDLoss(negative_ratio=0.0)(embeddings, targets_for(embeddings), None, inputs)
    assert no_negatives["loss_id_negative"].item() == 0.0
    assert no_negatives["loss_id_cycle"].item() == pytest.approx(out["loss_id_cycle"].item())


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
    embeddings = [FRAME1, FRAME2, torch.tensor([[1.0, 1.0]]), torch.zeros(0, 2)]
    out = loss(embeddings, targets_for(embeddings), None, frame_inputs(["v0", "v1"]))
    first = positive_pair_losses(FRAME1, FRAME2, "none", 0.5)  # the lone object's pair gives zeros
    for name in ("intra", "inter", "cycle"):
        assert out[f"loss_id_{name}"].item() == pytest.approx(first[name].item() / 2)
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
    assert cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.PLACEHOLDER == "mean"
    assert cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.MARGIN == 0.5
    assert cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.NEGATIVE_RATIO == 0.25
    cfg.MODEL.ONE_SHOT.ID_LOSS.NAME = "UnsupervisedIDLoss"
    loss = ID_LOSS_REGISTRY.get(cfg.MODEL.ONE_SHOT.ID_LOSS.NAME)(cfg, cfg.MODEL.ONE_SHOT.EMBED_DIM)
    assert (loss.placeholder, loss.margin, loss.negative_ratio) == ("mean", 0.5, 0.25)
    torch.manual_seed(2)
    embeddings = [torch.randn(n, 16, requires_grad=True) for n in (3, 2, 2, 3)]
    out = loss(embeddings, targets_for(embeddings), None, frame_inputs(["v0", "v1"]))
    assert set(out) == {"loss_id_intra", "loss_id_inter", "loss_id_cycle", "loss_id_negative"}
    assert all(v.item() > 0 for v in out.values())
    sum(out.values()).backward()
    for e in embeddings:
        assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0
    cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.PLACEHOLDER = "max"
    with pytest.raises(ValueError, match="PLACEHOLDER"):
        ID_LOSS_REGISTRY.get("UnsupervisedIDLoss")(cfg, 16)


def test_identity_preserving_pair_beats_a_collapsed_one():
    torch.manual_seed(3)
    identities = torch.eye(8)[:4] * 3.0  # four distinct objects
    preserving = [identities, identities + 0.05 * torch.randn(4, 8)]
    collapsed = [torch.ones(4, 8), torch.ones(4, 8)]
    loss = UnsupervisedIDLoss(negative_ratio=0.0)
    good = sum(loss(preserving, targets_for(preserving), None, frame_inputs(["v0"])).values()).item()
    bad = sum(loss(collapsed, targets_for(collapsed), None, frame_inputs(["v0"])).values()).item()
    # collapsed: uniform rows of 1/8: intra 3/8, inter 0.5, cycle 2 * 12/16 / 8
    assert bad == pytest.approx(3 / 8 + 0.5 + 1.5 / 8, rel=1e-5)
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
    # random projections keep the nuisance (measured 0.25); the loss learns to drop it (0.997)
    assert before < 0.5 and after > 0.95
