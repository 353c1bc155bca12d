"""OUTrack's occlusion estimation (Sec. 3.2.1): targets (Eq. 9-10) and losses (Eq. 11-14)
against the paper's formulas on hand-made box pairs, and that the head learns."""
import math

import numpy as np
import pytest
import torch

from mot_heads.modeling.one_shot.centernet import gaussian_radius
from mot_heads.modeling.one_shot.occlusion import OcclusionHead, occlusion_targets, valid_occlusions


def boxes(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_valid_occlusion_needs_the_overlap_to_cover_tau_of_the_smaller_box():
    # overlap 8 x 8 = 64 of two 100-pixel boxes: 0.64 <= 0.7, not valid
    assert len(valid_occlusions(boxes([0, 0, 10, 10], [2, 2, 12, 12]), 0.7)) == 0
    # overlap 9 x 9 = 81: 0.81 > 0.7, valid; the occlusion is the overlap box
    torch.testing.assert_close(valid_occlusions(boxes([0, 0, 10, 10], [1, 1, 11, 11]), 0.7),
                               boxes([1, 1, 10, 10]))
    # a small box inside a big one: ratio 1 against the smaller box, although IoU is 1/16
    torch.testing.assert_close(valid_occlusions(boxes([0, 0, 20, 20], [5, 5, 10, 10]), 0.7), boxes([5, 5, 10, 10]))
    # three boxes: only the pairs (0, 2) and (1, 2) qualify, in pair order; disjoint boxes never do
    found = valid_occlusions(boxes([0, 0, 20, 20], [40, 0, 60, 20], [10, 0, 50, 20]), 0.45)
    torch.testing.assert_close(found, boxes([10, 0, 20, 20], [40, 0, 50, 20]))
    assert len(valid_occlusions(boxes([0, 0, 10, 10]), 0.7)) == 0 and len(valid_occlusions(boxes(), 0.7)) == 0


def paper_heatmap(overlaps, size, stride=4, min_overlap=0.7):
    """Eq. 10: Y_xy = max over the valid occlusions o of exp(-|(x, y) - p~|^2 / (2 sigma_o^2)).

    "sigma is set to be relative to the size of o following the definition in [23]"
    (CornerNet): sigma = diameter / 6 of the Gaussian of radius r, r the CornerNet radius
    of o's size in cells (its published formula, ``gaussian_radius``, tested on its own),
    drawn on the (2r + 1)^2 cells about the integer centre p~ = floor(p / R), as CenterNet
    draws object centres."""
    height, width = size
    heatmap = np.zeros(size)
    for x1, y1, x2, y2 in overlaps:
        cx, cy = math.floor((x1 + x2) / 2 / stride), math.floor((y1 + y2) / 2 / stride)
        r = int(gaussian_radius(math.ceil((y2 - y1) / stride), math.ceil((x2 - x1) / stride), min_overlap))
        sigma = (2 * r + 1) / 6
        for y in range(max(cy - r, 0), min(cy + r + 1, height)):
            for x in range(max(cx - r, 0), min(cx + r + 1, width)):
                heatmap[y, x] = max(heatmap[y, x], math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2)))
    return heatmap


def test_eq_10_gaussian_at_each_occlusion_centre_sized_by_the_overlap():
    # overlap [8, 8, 40, 24] (512 px, 0.53 of the smaller box: valid at tau 0.5) at stride 4:
    # centre (24, 16) px = cell (6, 4) exactly, 8 x 4 cells
    targets = occlusion_targets(boxes([0, 0, 40, 24], [8, 8, 48, 40]), (16, 16), 4, 0.5, 10, 0.7)
    np.testing.assert_allclose(targets["heatmap"][0].numpy(), paper_heatmap([[8, 8, 40, 24]], (16, 16)), atol=1e-6)
    assert targets["mask"].tolist()[:2] == [True, False] and targets["indices"][0] == 4 * 16 + 6
    torch.testing.assert_close(targets["offset"][0], torch.tensor([0.0, 0.0]))


def test_eq_10_occlusions_of_one_image_keep_the_maximum_and_offsets_the_sub_cell_centre():
    # a 12 x 12 box inside each of two 40 x 40 ones: occlusions centred at (26, 26) and
    # (38, 26), cells (6, 6) and (9, 6) at sub-cell offset (0.5, 0.5); no other pair
    # covers 0.7 of its smaller box (box 0 and box 3: 96 / 144)
    gt = boxes([0, 0, 40, 40], [20, 20, 32, 32], [30, 0, 70, 40], [32, 20, 44, 32])
    targets = occlusion_targets(gt, (16, 20), 4, 0.7, 10, 0.7)
    expected = paper_heatmap([[20, 20, 32, 32], [32, 20, 44, 32]], (16, 20))
    np.testing.assert_allclose(targets["heatmap"][0].numpy(), expected, atol=1e-6)
    assert int(targets["mask"].sum()) == 2
    assert targets["indices"][:2].tolist() == [6 * 20 + 6, 6 * 20 + 9]
    torch.testing.assert_close(targets["offset"][:2], torch.tensor([[0.5, 0.5], [0.5, 0.5]]))


def paper_focal(y, y_hat, alpha=2.0, beta=4.0):
    """Eq. 12: -(1 - y^)^a log(y^) where y = 1, -(1 - y)^b y^^a log(1 - y^) elsewhere."""
    if y == 1:
        return -((1 - y_hat) ** alpha) * math.log(y_hat)
    return -((1 - y) ** beta) * (y_hat ** alpha) * math.log(1 - y_hat)


def test_eq_11_to_14_occlusion_loss():
    # two valid occlusions, (26, 26) and (38, 26) px: cells (6, 6) and (9, 6), offsets (0.5, 0.5)
    gt = boxes([0, 0, 40, 40], [20, 20, 32, 32], [30, 0, 70, 40], [32, 20, 44, 32])
    overlaps = [[20, 20, 32, 32], [32, 20, 44, 32]]
    torch.manual_seed(0)
    maps = {"heatmap": torch.randn(1, 1, 16, 20), "offset": torch.randn(1, 2, 16, 20)}
    losses = OcclusionHead(4, 4, 0.7, 10, 0.7, 2.0, 4.0, 1.0).losses(maps, [gt], 4)
    y = paper_heatmap(overlaps, (16, 20))
    y_hat = torch.sigmoid(maps["heatmap"][0, 0]).clamp(1e-4, 1 - 1e-4).double().numpy()  # CenterNet's clamp
    centre = sum(paper_focal(y[i, j], y_hat[i, j]) for i in range(16) for j in range(20))  # Eq. 11
    offset = maps["offset"][0].double().numpy()
    offsets = sum(abs(offset[0, cy, cx] - 0.5) + abs(offset[1, cy, cx] - 0.5) for cx, cy in ((6, 6), (9, 6)))  # Eq. 13
    count = 2  # Eq. 14: the number of valid occlusions
    assert losses["loss_occlusion_heatmap"].item() == pytest.approx(centre / count, rel=1e-5), "Eq. 11, 14"
    assert losses["loss_occlusion_offset"].item() == pytest.approx(offsets / count, rel=1e-5), "Eq. 13, 14"


def test_losses_are_zero_offset_and_pure_negatives_without_occlusions():
    head = OcclusionHead(4, 4, 0.7, 10, 0.7, 2.0, 4.0, 1.0)
    maps = head(torch.zeros(1, 4, 8, 8))
    losses = head.losses(maps, [boxes([0, 0, 8, 8])], 4)
    assert losses["loss_occlusion_offset"] == 0
    # no peak: the focal loss is the sum of the negative terms (normalised by 1)
    prob = torch.sigmoid(maps["heatmap"]).clamp(1e-4, 1 - 1e-4)
    expected = -(prob.pow(2) * (1 - prob).log()).sum()
    torch.testing.assert_close(losses["loss_occlusion_heatmap"], expected)


def test_hidden_objects_pair_with_the_instances_unless_switched_off():
    # a 12 x 12 object hidden (not an instance) inside a 40 x 40 one: one occlusion,
    # centred at (26, 26), cell (6, 6), when hidden boxes count; none otherwise
    maps = {"heatmap": torch.full((1, 1, 16, 16), -2.0), "offset": torch.zeros(1, 2, 16, 16)}
    visible, hidden = [boxes([0, 0, 40, 40])], [boxes([20, 20, 32, 32])]
    alone = OcclusionHead(4, 4, 0.7, 10, 0.7, 2.0, 4.0, 1.0).losses(maps, visible, 4)
    both = OcclusionHead(4, 4, 0.7, 10, 0.7, 2.0, 4.0, 1.0).losses(maps, visible, 4, hidden)
    off = OcclusionHead(4, 4, 0.7, 10, 0.7, 2.0, 4.0, 1.0, hidden_objects=False).losses(maps, visible, 4, hidden)
    assert alone["loss_occlusion_offset"] == 0 and off["loss_occlusion_offset"] == 0
    # the offset head predicts 0 where the target is the sub-cell offset (0.5, 0.5): Eq. 13 gives 1
    torch.testing.assert_close(both["loss_occlusion_offset"], torch.tensor(1.0))
    torch.testing.assert_close(off["loss_occlusion_heatmap"], alone["loss_occlusion_heatmap"])
    assert both["loss_occlusion_heatmap"] > alone["loss_occlusion_heatmap"]  # a positive the map misses
    none = OcclusionHead(4, 4, 0.7, 10, 0.7, 2.0, 4.0, 1.0).losses(maps, visible, 4, [None])
    torch.testing.assert_close(none["loss_occlusion_heatmap"], alone["loss_occlusion_heatmap"])


@pytest.mark.slow
def test_the_head_learns_to_fire_at_an_occlusion_and_nowhere_else():
    torch.manual_seed(0)
    head = OcclusionHead(8, 16, 0.7, 10, 0.7, 2.0, 4.0, 1.0)
    # a 64 x 96 image (stride 4: 16 x 24 cells); a walker (x 30-50) half hides behind another (x 34-54)
    boxes = torch.tensor([[30.0, 10.0, 50.0, 50.0], [34.0, 12.0, 54.0, 52.0], [70.0, 20.0, 90.0, 60.0]])
    features = torch.randn(1, 8, 16, 24)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(200):
        losses = head.losses(head(features), [boxes], 4)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    centres, scores = OcclusionHead.decode(head(features), 2, 4)
    # the one valid occlusion: boxes 0 and 1 overlap on x 34-50, y 12-50, centre (42, 31)
    assert scores[0, 0] > 0.3 and scores[0, 1] < 0.05  # from the prior 0.1 at every cell
    assert torch.allclose(centres[0, 0], torch.tensor([42.0, 31.0]), atol=1.0)
