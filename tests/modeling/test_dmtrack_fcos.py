"""DMTrack's one-shot FCOS targets (Eq. 1, centre sampling, size ranges) on hand-made boxes,
the losses (Eq. 4-7) and the cross-query average (Eq. 8) by hand."""
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


def test_locations_are_cell_centres():
    small, coarse = fcos_locations([(2, 3), (1, 1)], (8, 32))
    assert small.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert coarse.tolist() == [[16, 16]]


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


def hand_targets():
    """Three locations: two positives with targets (1, 1, 1, 1) and (1, 1, 3, 3)
    (centre-ness 1 and 1/3), one negative."""
    return FCOSTargets(torch.tensor([True, True, False]),
                       torch.tensor([[1.0, 1, 1, 1], [1, 1, 3, 3], [0, 0, 0, 0]]),
                       torch.tensor([1.0, 1 / 3, 0.0]), torch.tensor([0, 0, -1]))


def test_losses_by_hand():
    cls_logits = torch.zeros(3, requires_grad=True)
    ltrb = torch.ones(3, 4, requires_grad=True)
    ctr_logits = torch.full((3,), math.log(3))  # sigmoid = 0.75
    losses = fcos_losses(cls_logits, ltrb, ctr_logits, hand_targets())
    # focal at p = 0.5: positive 0.25 * 0.5^2 * ln 2, negative 0.75 * 0.5^2 * ln 2; over 2 positives
    positive, negative = 0.25 * 0.25 * math.log(2), 0.75 * 0.25 * math.log(2)
    assert losses["loss_fcos_cls"].item() == pytest.approx((2 * positive + negative) / 2)
    # IoU 1 at the first positive; 4 / 16 at the second (-ln = ln 4), weighted by 1 and 1/3
    assert losses["loss_fcos_loc"].item() == pytest.approx((0 + math.log(4) / 3) / (1 + 1 / 3))
    # BCE at p = 0.75 against 1 and 1/3, over 2 positives
    bce_one, bce_third = -math.log(0.75), -(math.log(0.75) / 3 + 2 * math.log(0.25) / 3)
    assert losses["loss_fcos_ctr"].item() == pytest.approx((bce_one + bce_third) / 2)
    sum(losses.values()).backward()
    assert cls_logits.grad.abs().sum() > 0 and ltrb.grad[1].abs().sum() > 0
    assert ltrb.grad[2].abs().sum() == 0  # negatives have no box loss


def test_giou_box_loss_by_hand():
    # boxes about the location: [-1, -1, 1, 1] in [-1, -1, 3, 3]: GIoU = IoU = 1/4 (the
    # target is the enclosing box), loss 3/4; weighted by 1/3 with the exact first box
    losses = fcos_losses(torch.zeros(3), torch.ones(3, 4), torch.zeros(3), hand_targets(), box_loss="giou")
    assert losses["loss_fcos_loc"].item() == pytest.approx((0 + 0.75 / 3) / (1 + 1 / 3))
    with pytest.raises(ValueError, match="box_loss"):
        fcos_losses(torch.zeros(3), torch.ones(3, 4), torch.zeros(3), hand_targets(), box_loss="l1")


def test_losses_without_positives():
    cls_logits, ltrb = torch.zeros(3, requires_grad=True), torch.ones(3, 4, requires_grad=True)
    targets = FCOSTargets(torch.zeros(3, dtype=torch.bool), torch.zeros(3, 4), torch.zeros(3),
                          torch.full((3,), -1))
    losses = fcos_losses(cls_logits, ltrb, torch.zeros(3, requires_grad=True), targets)
    assert losses["loss_fcos_cls"].item() == pytest.approx(3 * 0.75 * 0.25 * math.log(2))  # divided by 1
    assert losses["loss_fcos_loc"].item() == 0 and losses["loss_fcos_ctr"].item() == 0
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


def perfect_predictions(box, height=64, width=64):
    """Maps of one pair: logits +10 at the box's positives and -10 elsewhere, its exact
    distances everywhere, centre-ness logits 0."""
    locations = fcos_locations(grids(height, width), STRIDES)
    targets = fcos_targets(torch.tensor([box], dtype=torch.float32), locations, STRIDES)
    cls, ltrb, ctr = [], [], []
    start = 0
    for (h, w), points in zip(grids(height, width), locations):
        labels = targets.labels[start:start + h * w].view(1, 1, h, w)
        cls.append(torch.where(labels, 10.0, -10.0))
        x, y = points[:, 0], points[:, 1]
        distances = torch.stack([x - box[0], y - box[1], box[2] - x, box[3] - y])
        ltrb.append(distances.view(1, 4, h, w).clamp(min=1))
        ctr.append(torch.zeros(1, 1, h, w))
        start += h * w
    return cls, ltrb, ctr


def test_batched_loss_reads_maps_in_location_order_and_averages_per_image():
    loss = OneShotFCOSLoss()
    box = [0.0, 0.0, 40.0, 40.0]
    cls, ltrb, ctr = perfect_predictions(box)
    perfect = loss(cls, ltrb, ctr, [torch.tensor([box])], torch.tensor([0]))
    assert perfect["loss_fcos_cls"].item() < 1e-6 and perfect["loss_fcos_loc"].item() < 1e-5
    assert perfect["loss_fcos_ctr"].item() > 0
    # three pairs: the perfect one and an absent target on image 0, a flipped map on image 1
    flipped = [c.flip(-1) for c in cls]
    batch = [torch.cat([a, a, b]) for a, b in zip(cls, flipped)], [torch.cat([t] * 3) for t in ltrb], \
        [torch.cat([t] * 3) for t in ctr]
    boxes = [torch.tensor([box]), torch.zeros(0, 4), torch.tensor([box])]
    losses = loss(*batch, boxes, torch.tensor([0, 0, 1]))
    singles = [loss([m[q:q + 1] for m in batch[0]], [m[q:q + 1] for m in batch[1]], [m[q:q + 1] for m in batch[2]],
                    [boxes[q]], torch.tensor([0])) for q in range(3)]
    for name, value in losses.items():
        expected = ((singles[0][name] + singles[1][name]) / 2 + singles[2][name]) / 2  # Eq. 8 per image
        assert value.item() == pytest.approx(expected.item())
    assert singles[2]["loss_fcos_cls"] > 1  # the flipped map misses the target


def test_batched_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="one per level"):
        OneShotFCOSLoss(size_ranges=((0, 64), (64, float("inf"))))
    with pytest.raises(ValueError, match="box_loss"):
        OneShotFCOSLoss(box_loss="smooth_l1")
    loss = OneShotFCOSLoss()
    cls, ltrb, ctr = perfect_predictions([0.0, 0.0, 40.0, 40.0])
    with pytest.raises(ValueError, match="predictions on 2"):
        loss(cls[:2], ltrb, ctr, [torch.zeros(0, 4)], torch.tensor([0]))
    with pytest.raises(ValueError, match="1 predictions, 2 target box sets"):
        loss(cls, ltrb, ctr, [torch.zeros(0, 4)] * 2, torch.tensor([0]))
