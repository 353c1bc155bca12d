"""DMTrack's one-shot FCOS targets (Eq. 1, centre sampling, size ranges), the losses
(Eq. 4-7, and our normalisations) and the cross-query average (Eq. 8), each against the
formula transcribed here."""
import math

import pytest
import torch

from mot_heads.modeling.dmtrack import (
    FCOSTargets, OneShotFCOSLoss, cross_query_average, fcos_locations, fcos_losses, fcos_targets,
)

STRIDES = (8, 16, 32)


def grids(height, width):
    return [(height // s, width // s) for s in STRIDES]


def flat_index(level, x, y, height=128, width=256):
    """Index among all locations of the location (x, y) of ``level`` (0: P3)."""
    sizes = grids(height, width)
    stride = STRIDES[level]
    offset = sum(h * w for h, w in sizes[:level])
    return offset + (y - stride // 2) // stride * sizes[level][1] + (x - stride // 2) // stride


def targets_for(*boxes, height=128, width=256):
    locations = fcos_locations(grids(height, width), STRIDES)
    return fcos_targets(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), locations, STRIDES)


def positives(targets):
    return set(targets.labels.nonzero()[:, 0].tolist())


def test_locations_follow_eq1():
    # Eq. 1: (floor(s / 2) + x s, floor(s / 2) + y s), x, y the cell's column and row
    sizes, strides = [(2, 3), (1, 1), (3, 2)], (8, 32, 5)
    for (height, width), s, points in zip(sizes, strides, fcos_locations(sizes, strides)):
        assert points.tolist() == [[s // 2 + x * s, s // 2 + y * s] for y in range(height) for x in range(width)]


def test_small_box_is_positive_on_p3_within_the_centre_region():
    # [0, 0, 40, 40], centre (20, 20): P3 locations with |x - 20| < 12 and |y - 20| < 12 are
    # x, y in {12, 20, 28}; on P4 and P5 max(l, t, r, b) <= 32 stays below 64
    targets = targets_for([0, 0, 40, 40])
    expected = {flat_index(0, x, y) for x in (12, 20, 28) for y in (12, 20, 28)}
    assert positives(targets) == expected
    assert set(targets.matched[targets.labels].tolist()) == {0} and (targets.matched[~targets.labels] == -1).all()
    at = flat_index(0, 12, 12)
    assert targets.ltrb[at].tolist() == [12, 12, 28, 28]
    assert targets.centerness[at].item() == pytest.approx(12 / 28)  # sqrt(12/28 * 12/28)
    at = flat_index(0, 28, 20)
    assert targets.ltrb[at].tolist() == [28, 20, 12, 20]
    assert targets.centerness[at].item() == pytest.approx(math.sqrt(12 / 28))  # sqrt(12/28 * 20/20)
    assert targets.centerness[flat_index(0, 20, 20)].item() == pytest.approx(1.0)
    assert (targets.ltrb[~targets.labels] == 0).all() and (targets.centerness[~targets.labels] == 0).all()


def test_larger_box_is_positive_on_p4_only():
    # [96, 16, 224, 112], centre (160, 64). P4 (radius 24): x in {152, 168}, y in {56, 72},
    # each with max(l, t, r, b) = 72 in [64, 128]. P3 (radius 12): x in {156, 164}, y in
    # {60, 68}, but max = 68 > 64. P5 (radius 48): x in {144, 176}, y in {48, 80}, max 80 < 128.
    targets = targets_for([96, 16, 224, 112])
    assert positives(targets) == {flat_index(1, x, y) for x in (152, 168) for y in (56, 72)}
    at = flat_index(1, 152, 56)
    assert targets.ltrb[at].tolist() == [56, 40, 72, 56]
    assert targets.centerness[at].item() == pytest.approx(math.sqrt(56 / 72 * 40 / 56))


def test_centre_region_is_open_and_size_ranges_closed():
    # [0, 0, 48, 48], centre (24, 24): P3 locations 12 and 36 lie exactly 1.5 strides away: outside
    assert positives(targets_for([0, 0, 48, 48])) == {flat_index(0, x, y) for x in (20, 28) for y in (20, 28)}
    # [0, 0, 116, 40]: at P3 location (52, 20) max(l, t, r, b) = r = 64 = m_3: still positive on P3
    targets = targets_for([0, 0, 116, 40])
    assert targets.labels[flat_index(0, 52, 20)] and targets.ltrb[flat_index(0, 52, 20)].max() == 64
    assert not targets.labels[flat_index(0, 68, 20)]  # l = 68 > 64


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_a_location_of_two_boxes_takes_the_smaller(order):
    # D = [0, 0, 40, 40] (area 1600) and E = [8, 8, 48, 56] (1920, centre (28, 32): P3 x in
    # {20, 28, 36}, y in {28, 36}) both claim (20, 28) and (28, 28), which go to D
    boxes = [[0, 0, 40, 40], [8, 8, 48, 56]]
    targets = targets_for(*[boxes[i] for i in order])
    d, e = order.index(0), order.index(1)
    of_d = {flat_index(0, x, y) for x in (12, 20, 28) for y in (12, 20, 28)}
    of_e = {flat_index(0, x, y) for x in (20, 28, 36) for y in (28, 36)}
    assert positives(targets) == of_d | of_e and len(of_d | of_e) == 13
    for index in of_d:
        assert targets.matched[index] == d
    for index in of_e - of_d:
        assert targets.matched[index] == e
    assert targets.ltrb[flat_index(0, 20, 28)].tolist() == [20, 28, 20, 12]  # distances to D


def test_no_box_or_a_tiny_box_gives_no_positive():
    for targets in (targets_for(), targets_for([0, 0, 2, 2])):  # the tiny box holds no location
        assert not targets.labels.any() and (targets.matched == -1).all()
        assert targets.ltrb.shape == (16 * 32 + 8 * 16 + 4 * 8, 4)


def test_targets_reject_inconsistent_levels():
    locations = fcos_locations(grids(64, 64), STRIDES)
    with pytest.raises(ValueError, match="one of each per level"):
        fcos_targets(torch.tensor([[0.0, 0, 8, 8]]), locations[:2], STRIDES)


# ---------------------------------------------------------------------------- the paper's formulas

R = 1.5  # Eq. 1, DMTrack: "r is a scale parameter being 1.5"
# FCOS's size ranges of P3-P5 (DMTrack: "the same as the default setting [30]").
RANGES = ((0.0, 64.0), (64.0, 128.0), (128.0, math.inf))
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0  # FCOS's focal loss (DMTrack names no values)


def paper_assignment(boxes, grid_sizes):
    """For each level and location (row-major): (index of the regressed box or None, its
    (l, t, r, b)). Eq. 1, DMTrack: location (x, y) of a level of stride s sits at
    (floor(s/2) + x s, floor(s/2) + y s); positive when it lies in the centre region
    (c_x - r s, c_y - r s, c_x + r s, c_y + r s) of a box. FCOS's rules, which the paper
    follows ("the same as the default setting [30]"): also inside the box, with
    max(l, t, r, b) in the level's range, and a location of several boxes regresses the
    smallest. Read as open regions (interior points), as FCOS's code."""
    levels = []
    for (height, width), s, (low, high) in zip(grid_sizes, STRIDES, RANGES):
        level = []
        for y in range(height):
            for x in range(width):
                px, py = s // 2 + x * s, s // 2 + y * s  # Eq. 1
                best = None
                for k, (x1, y1, x2, y2) in enumerate(boxes):
                    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                    ltrb = (px - x1, py - y1, x2 - px, y2 - py)
                    in_centre_region = cx - R * s < px < cx + R * s and cy - R * s < py < cy + R * s
                    if in_centre_region and min(ltrb) > 0 and low <= max(ltrb) <= high:
                        area = (x2 - x1) * (y2 - y1)
                        if best is None or area < best[0]:
                            best = (area, k, ltrb)
                level.append((None, None) if best is None else best[1:])
        levels.append(level)
    return levels


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def focal(logit, positive):
    """Lin et al.: -alpha (1 - p)^gamma ln p for a positive, -(1 - alpha) p^gamma ln(1 - p) else."""
    p = sigmoid(logit)
    if positive:
        return -FOCAL_ALPHA * (1 - p) ** FOCAL_GAMMA * math.log(p)
    return -(1 - FOCAL_ALPHA) * p ** FOCAL_GAMMA * math.log(1 - p)


def iou_loss(pred, target):
    """L_IoU of distances to the sides (UnitBox, as FCOS): -ln IoU."""
    (l, t, r, b), (gl, gt, gr, gb) = pred, target
    intersection = (min(l, gl) + min(r, gr)) * (min(t, gt) + min(b, gb))
    union = (l + r) * (t + b) + (gl + gr) * (gt + gb) - intersection
    return -math.log(intersection / union)


def centre_ness(ltrb):
    """FCOS's centre-ness target: sqrt(min(l, r) / max(l, r) x min(t, b) / max(t, b))."""
    l, t, r, b = ltrb
    return math.sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))


def bce(logit, target):
    p = sigmoid(logit)
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def paper_detection_loss(cls, ltrb, ctr, boxes, lambdas):
    """Eq. 4-7, DMTrack, of one template-search pair: L_n^m summed over the locations
    (i, j) of level m (Eq. 5-6 over the positives only: "0 otherwise"), then
    L_det = sum_m sum_n lambda_n^m L_n^m. Maps: per level (1, C, H, W) tensors."""
    grid_sizes = [tuple(m.shape[-2:]) for m in cls]
    terms = {"loss_fcos_cls": 0.0, "loss_fcos_loc": 0.0, "loss_fcos_ctr": 0.0}
    for m, level in enumerate(paper_assignment(boxes, grid_sizes)):
        width = grid_sizes[m][1]
        l_alpha = l_beta = l_gamma = 0.0
        for index, (box, target) in enumerate(level):
            y, x = divmod(index, width)
            l_alpha += focal(cls[m][0, 0, y, x].item(), box is not None)  # Eq. 4
            if box is not None:
                l_beta += iou_loss(ltrb[m][0, :, y, x].tolist(), target)  # Eq. 5
                l_gamma += bce(ctr[m][0, 0, y, x].item(), centre_ness(target))  # Eq. 6
        terms["loss_fcos_cls"] += lambdas[0][m] * l_alpha  # Eq. 7
        terms["loss_fcos_loc"] += lambdas[1][m] * l_beta
        terms["loss_fcos_ctr"] += lambdas[2][m] * l_gamma
    return terms


def random_maps(pairs, grid_sizes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    cls = [torch.randn(pairs, 1, h, w, generator=generator) * 2 for h, w in grid_sizes]
    ltrb = [torch.exp(torch.randn(pairs, 4, h, w, generator=generator)) * s * 4
            for (h, w), s in zip(grid_sizes, STRIDES)]
    ctr = [torch.randn(pairs, 1, h, w, generator=generator) for h, w in grid_sizes]
    return cls, ltrb, ctr


# Boxes of a 320 x 320 search image with positives on every level: SMALL and INNER on P3,
# sharing locations (INNER, the smaller, takes them), MEDIUM on P4, LARGE on P5.
SMALL, INNER, MEDIUM, LARGE = [20.0, 10, 80, 80], [20.0, 20, 60, 70], [60.0, 100, 230, 260], [0.0, 0, 300, 310]
GRID_320 = [(40, 40), (20, 20), (10, 10)]
ONES = ((1.0, 1.0, 1.0),) * 3


HAND = [(1.0, 1.0, 1.0, 1.0), (2.0, 1.0, 1.0, 2.0), None]  # targets of three P3 locations, None: negative


def hand_targets():
    positive = [t is not None for t in HAND]
    ltrb = [t if t is not None else (0.0,) * 4 for t in HAND]
    return FCOSTargets(torch.tensor(positive), torch.tensor(ltrb),
                       torch.tensor([centre_ness(t) if t else 0.0 for t in HAND]), torch.tensor([0, 0, -1]),
                       torch.zeros(3, dtype=torch.int64))


def test_losses_by_the_formulas_and_our_normalisations():
    cls_logits = torch.tensor([0.3, -0.5, 1.0], requires_grad=True)
    ltrb = torch.tensor([[1.0, 1, 1, 1], [1, 1, 3, 3], [1, 1, 1, 1]], requires_grad=True)
    ctr_logits = torch.tensor([0.2, -0.4, 0.7])
    positives = [i for i, t in enumerate(HAND) if t is not None]
    focal_sum = sum(focal(cls_logits[i].item(), HAND[i] is not None) for i in range(3))
    ious = [iou_loss(ltrb[i].tolist(), HAND[i]) for i in positives]
    weights = [centre_ness(HAND[i]) for i in positives]
    bce_sum = sum(bce(ctr_logits[i].item(), centre_ness(HAND[i])) for i in positives)
    weighted = sum(w * v for w, v in zip(weights, ious))
    expected = {  # (normalize, centre-ness weighted): (Eq. 4, Eq. 5, Eq. 6)
        (False, False): (focal_sum, sum(ious), bce_sum),  # the paper's sums
        (False, True): (focal_sum, weighted, bce_sum),
        # ours, FCOS's code: divided by the 2 positives, the weighted IoU loss by its weights
        (True, False): (focal_sum / 2, sum(ious) / 2, bce_sum / 2),
        (True, True): (focal_sum / 2, weighted / sum(weights), bce_sum / 2),
    }
    for (normalize, centre_weighted), values in expected.items():
        losses = fcos_losses(cls_logits, ltrb, ctr_logits, hand_targets(), normalize=normalize,
                             centerness_weighted_box=centre_weighted)
        got = [losses[k].item() for k in ("loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr")]
        assert got == pytest.approx(list(values), rel=1e-5), (normalize, centre_weighted)
    sum(losses.values()).backward()
    assert cls_logits.grad.abs().sum() > 0 and ltrb.grad[1].abs().sum() > 0
    assert ltrb.grad[2].abs().sum() == 0  # negatives have no box loss


def test_giou_box_loss_by_the_formula():
    # GIoU (Rezatofighi et al.) = IoU - |C \ (A u B)| / |C|, C the enclosing box; loss 1 - GIoU.
    ltrb = torch.tensor([[1.0, 1, 1, 1], [2, 1, 1, 2], [1, 1, 1, 1]])

    def giou_loss(pred, target):
        a = (-pred[0], -pred[1], pred[2], pred[3])  # boxes about the location
        b = (-target[0], -target[1], target[2], target[3])
        width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
        hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
        return 1 - (width * height / union - (hull - union) / hull)

    losses = fcos_losses(torch.zeros(3), ltrb, torch.zeros(3), hand_targets(), box_loss="giou")
    expected = sum(giou_loss(ltrb[i].tolist(), HAND[i]) for i in (0, 1))
    assert losses["loss_fcos_loc"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="box_loss"):
        fcos_losses(torch.zeros(3), ltrb, torch.zeros(3), hand_targets(), box_loss="l1")


def test_losses_without_positives():
    cls_logits, ltrb = torch.zeros(3, requires_grad=True), torch.ones(3, 4, requires_grad=True)
    targets = FCOSTargets(torch.zeros(3, dtype=torch.bool), torch.zeros(3, 4), torch.zeros(3),
                          torch.full((3,), -1), torch.zeros(3, dtype=torch.int64))
    for normalize in (False, True):  # ours divides by max(positives, 1) = 1
        losses = fcos_losses(cls_logits, ltrb, torch.zeros(3, requires_grad=True), targets, normalize=normalize)
        assert losses["loss_fcos_cls"].item() == pytest.approx(3 * focal(0.0, False))
        assert losses["loss_fcos_loc"].item() == 0 and losses["loss_fcos_ctr"].item() == 0  # Eq. 5-6: "0 otherwise"
        assert all(v.requires_grad for v in losses.values())


def test_cross_query_average_by_hand():
    # image 0 holds pairs with losses 1 and 3, image 1 one pair with 5: (2 + 5) / 2
    losses = {"loss_a": torch.tensor([1.0, 3.0, 5.0]), "loss_b": torch.tensor([2.0, 2.0, 8.0])}
    averaged = cross_query_average(losses, torch.tensor([0, 0, 1]))
    assert averaged["loss_a"].item() == pytest.approx(3.5) and averaged["loss_b"].item() == pytest.approx(5.0)
    averaged = cross_query_average(losses, torch.tensor([7, 2, 7]))  # any image ids, any order
    assert averaged["loss_a"].item() == pytest.approx((3 + 3) / 2)
    with pytest.raises(ValueError, match="loss_a"):
        cross_query_average({"loss_a": torch.ones(2)}, torch.tensor([0, 0, 1]))


def test_eq1_positives_follow_the_centre_region_and_fcos_rules():
    boxes = [SMALL, INNER, MEDIUM, LARGE]
    targets = fcos_targets(torch.tensor(boxes), fcos_locations(GRID_320, STRIDES), STRIDES)
    expected = [entry for level in paper_assignment(boxes, GRID_320) for entry in level]
    assert targets.labels.tolist() == [box is not None for box, _ in expected]
    assert targets.matched.tolist() == [-1 if box is None else box for box, _ in expected]
    positive = targets.labels.nonzero()[:, 0].tolist()
    assert {expected[i][0] for i in positive} == {0, 1, 2, 3}  # every box, on every level, is learnt
    torch.testing.assert_close(targets.ltrb[positive], torch.tensor([expected[i][1] for i in positive]))
    torch.testing.assert_close(targets.centerness[positive],
                               torch.tensor([centre_ness(expected[i][1]) for i in positive]))


@pytest.mark.parametrize("name", ["loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr"])
def test_eq4_to_6_sum_over_the_locations_of_each_level(name):
    # Eq. 4: L_alpha = sum_{i,j} L_focal; Eq. 5: L_beta = sum_{i,j} L_IoU where sigma = 1, 0
    # otherwise; Eq. 6 likewise with L_BCE. The paper writes plain sums: no division by the
    # number of positives, no centre-ness weight on L_IoU (both are FCOS code's, our options).
    cls, ltrb, ctr = random_maps(1, GRID_320)
    boxes = [SMALL, INNER, MEDIUM, LARGE]
    losses = OneShotFCOSLoss()(cls, ltrb, ctr, [torch.tensor(boxes)], torch.tensor([0]))
    expected = paper_detection_loss(cls, ltrb, ctr, boxes, ONES)[name]
    assert losses[name].item() == pytest.approx(expected, rel=1e-4), f"Eq. 4-6: {name} is not the sum"


def test_eq7_weights_each_level_and_head_and_eq8_averages_the_queries_of_an_image():
    # lambda_n^m of Eq. 7, one per head n (alpha, beta, gamma) and level m (P3, P4, P5).
    lambdas = ((0.5, 2.0, 3.0), (1.5, 0.25, 4.0), (2.5, 0.75, 1.25))
    loss = OneShotFCOSLoss(loss_weights=lambdas)
    # Three pairs: on image 0 the target with boxes on every level and an absent target
    # (no positive: Eq. 5-6 give 0), on image 1 a target on P4.
    boxes = [[SMALL, INNER, MEDIUM, LARGE], [], [MEDIUM]]
    cls, ltrb, ctr = random_maps(3, GRID_320, seed=1)
    losses = loss(cls, ltrb, ctr, [torch.tensor(b).reshape(-1, 4) for b in boxes], torch.tensor([0, 0, 1]))
    per_pair = [paper_detection_loss([m[q:q + 1] for m in cls], [m[q:q + 1] for m in ltrb],
                                     [m[q:q + 1] for m in ctr], boxes[q], lambdas) for q in range(3)]
    for name, value in losses.items():
        image_0 = (per_pair[0][name] + per_pair[1][name]) / 2  # Eq. 8: 1/I sum_i L_det over the I queries
        image_1 = per_pair[2][name]
        assert value.item() == pytest.approx((image_0 + image_1) / 2, rel=1e-4), name  # mean of the images (ours)


def test_batched_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="one per level"):
        OneShotFCOSLoss(size_ranges=((0, 64), (64, float("inf"))))
    with pytest.raises(ValueError, match="box_loss"):
        OneShotFCOSLoss(box_loss="smooth_l1")
    with pytest.raises(ValueError, match="3 rows"):
        OneShotFCOSLoss(loss_weights=((1.0, 1.0), (1.0, 1.0), (1.0, 1.0)))
    loss = OneShotFCOSLoss()
    cls, ltrb, ctr = random_maps(1, grids(64, 64))
    with pytest.raises(ValueError, match="predictions on 2"):
        loss(cls[:2], ltrb, ctr, [torch.zeros(0, 4)], torch.tensor([0]))
    with pytest.raises(ValueError, match="1 predictions, 2 target box sets"):
        loss(cls, ltrb, ctr, [torch.zeros(0, 4)] * 2, torch.tensor([0]))


