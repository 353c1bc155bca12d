"""CenterNet detection parts of the one-shot models: radius, Gaussians, targets, Eq. 1-3 by
hand, decoding and the targets -> decode round trip."""
import itertools
import math

import pytest
import torch
from torchvision.ops import box_iou

from mot_heads.modeling.one_shot.centernet import (
    HEATMAP_PRIOR, centernet_focal_loss, centernet_targets, decode_centernet, draw_gaussian, gather_at,
    gaussian_kernel, gaussian_radius, prediction_head, regression_l1_loss,
)

SIZES = [(10.0, 10.0), (20.0, 6.0), (3.0, 40.0), (50.0, 120.0), (1.0, 2.0)]  # (height, width)


def released_centernet_radius(height, width, min_overlap):
    """CenterNet's released gaussian_radius, re-typed term by term as the reference."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def worst_iou_with_corners_moved(height, width, distance, steps=5):
    """Smallest IoU with the box [0, 0, w, h] over boxes whose four corner coordinates each
    move by a value on a grid of [-distance, distance] (endpoints included)."""
    grid = torch.linspace(-distance, distance, steps, dtype=torch.float64)
    moves = torch.tensor(list(itertools.product(grid.tolist(), repeat=4)), dtype=torch.float64)
    base = torch.tensor([[0.0, 0.0, width, height]], dtype=torch.float64)
    return box_iou(base, base + moves).min().item()


@pytest.mark.parametrize("height,width", SIZES)
@pytest.mark.parametrize("min_overlap", [0.7, 0.5])
def test_exact_radius_is_the_largest_safe_corner_move(height, width, min_overlap):
    radius = gaussian_radius(height, width, min_overlap, exact=True)
    assert worst_iou_with_corners_moved(height, width, radius) == pytest.approx(min_overlap, abs=1e-9)
    assert worst_iou_with_corners_moved(height, width, radius * (1 + 1e-3)) < min_overlap
    assert worst_iou_with_corners_moved(height, width, radius + 1) < min_overlap


@pytest.mark.parametrize("height,width", SIZES)
@pytest.mark.parametrize("min_overlap", [0.7, 0.5, 0.3])
def test_default_radius_is_centernets_released_rule(height, width, min_overlap):
    radius = gaussian_radius(height, width, min_overlap)
    assert radius == pytest.approx(released_centernet_radius(height, width, min_overlap), rel=1e-12)
    assert radius > gaussian_radius(height, width, min_overlap, exact=True)  # wider peaks than the exact rule
    # What it does guarantee: growing the box by r / (4 o) on every side gives IoU o exactly.
    grow = radius / (4 * min_overlap)
    assert width * height / ((width + 2 * grow) * (height + 2 * grow)) == pytest.approx(min_overlap, rel=1e-12)


def test_radius_hand_values():
    # square of side 10 at o = 0.7: (sqrt(28^2 + 11.2 * 0.3 * 100) - 28) / 2 = 2.7332; exact (case 2):
    # (40 - sqrt(1600 - 16 * 0.3 * 100)) / 8 = (40 - 33.4664) / 8 = 0.8167
    assert gaussian_radius(10, 10) == pytest.approx(2.7332, abs=1e-4)
    assert gaussian_radius(10, 10, exact=True) == pytest.approx(0.8167, abs=1e-4)


def test_gaussian_kernel_hand_values():
    # radius 1: sigma = 3 / 6 = 0.5, 2 sigma^2 = 0.5
    kernel = gaussian_kernel(1)
    assert kernel[1, 1] == 1
    assert kernel[1, 2].item() == pytest.approx(math.exp(-2))
    assert kernel[0, 0].item() == pytest.approx(math.exp(-4))
    # radius 2: sigma = 5 / 6, 2 sigma^2 = 50 / 36
    kernel = gaussian_kernel(2)
    assert kernel[2, 3].item() == pytest.approx(math.exp(-0.72))
    assert kernel[3, 3].item() == pytest.approx(math.exp(-1.44))
    assert kernel[2, 4].item() == pytest.approx(math.exp(-2.88))
    assert torch.equal(gaussian_kernel(0), torch.ones(1, 1))


def test_draw_gaussian_peak_and_neighbours():
    heatmap = draw_gaussian(torch.zeros(5, 6), (3, 2), 1)
    assert heatmap[2, 3] == 1
    for y, x in [(1, 3), (3, 3), (2, 2), (2, 4)]:
        assert heatmap[y, x].item() == pytest.approx(math.exp(-2))
    for y, x in [(1, 2), (1, 4), (3, 2), (3, 4)]:
        assert heatmap[y, x].item() == pytest.approx(math.exp(-4))
    assert heatmap.sum().item() == pytest.approx(1 + 4 * math.exp(-2) + 4 * math.exp(-4))  # nothing beyond r


def test_draw_gaussian_takes_elementwise_max():
    heatmap = torch.zeros(5, 6)
    heatmap[4, 0] = 0.5
    heatmap[2, 4] = 0.5  # above the exp(-2) = 0.135 the second Gaussian brings there
    draw_gaussian(heatmap, (2, 2), 1)
    draw_gaussian(heatmap, (3, 2), 1)
    assert heatmap[2, 2] == 1 and heatmap[2, 3] == 1  # each peak survives the other's tail
    assert heatmap[1, 2].item() == pytest.approx(math.exp(-2))  # max(exp(-2), exp(-4))
    assert heatmap[1, 3].item() == pytest.approx(math.exp(-2))  # max(exp(-4), exp(-2))
    assert heatmap[2, 4] == 0.5 and heatmap[4, 0] == 0.5  # larger values already there are kept


def test_draw_gaussian_clips_at_borders():
    heatmap = draw_gaussian(torch.zeros(3, 3), (0, 0), 2)
    assert torch.equal(heatmap, gaussian_kernel(2)[2:, 2:])
    heatmap = draw_gaussian(torch.zeros(3, 4), (3, 2), 1)
    assert torch.equal(heatmap[1:, 2:], gaussian_kernel(1)[:2, :2])
    assert heatmap[0].sum() == 0 and heatmap[:, :2].sum() == 0
    assert draw_gaussian(torch.zeros(3, 3), (-5, 1), 1).sum() == 0  # no cell of the map under it


def hand_targets(**kwargs):
    """stride 4, 8 x 10 output map; five boxes, of which three are kept."""
    boxes = torch.tensor([
        [6.0, 10.0, 30.0, 26.0],  # cells [1.5, 2.5, 7.5, 6.5]: centre (4.5, 4.5), 6 x 4
        [33.0, 1.0, 39.0, 7.0],  # cells [8.25, 0.25, 9.75, 1.75]: centre (9, 1), 1.5 x 1.5
        [10.0, 10.0, 10.0, 20.0],  # no area: skipped
        [36.0, 28.0, 48.0, 36.0],  # centre (10.5, 8) right of the 10-cell map: skipped
        [0.0, 0.0, 7.0, 5.0],  # cells [0, 0, 1.75, 1.25]: centre (0.875, 0.625)
    ])
    classes = torch.tensor([0, 1, 0, 0, 0])
    identities = torch.tensor([7, -1, 4, 5, 3])
    return centernet_targets(boxes, classes, identities, num_classes=2, output_size=(8, 10), stride=4,
                             max_objects=5, **kwargs)


def test_targets_by_hand():
    targets = hand_targets()
    assert targets["indices"].tolist() == [4 * 10 + 4, 1 * 10 + 9, 0, 0, 0]
    assert targets["mask"].tolist() == [True, True, True, False, False]
    assert targets["identities"].tolist() == [7, -1, 3, -1, -1]
    assert targets["objects"].tolist() == [0, 1, 4, -1, -1]
    assert targets["offset"].tolist() == [[0.5, 0.5], [0.0, 0.0], [0.875, 0.625], [0.0, 0.0], [0.0, 0.0]]
    assert targets["size"].tolist() == [[6.0, 4.0], [1.5, 1.5], [1.75, 1.25], [0.0, 0.0], [0.0, 0.0]]
    assert targets["indices"].dtype == targets["identities"].dtype == torch.int64
    assert targets["mask"].dtype == torch.bool


def test_target_heatmap_by_hand():
    heatmap = hand_targets()["heatmap"]
    assert heatmap.shape == (2, 8, 10)
    # 6 x 4 cells: CenterNet radius 4o * (sqrt(14^2 + 3.36 * 24) - 14) / 5.6 = 1.316 -> 1
    assert heatmap[0, 4, 4] == 1
    assert heatmap[0, 4, 5].item() == pytest.approx(math.exp(-2))
    assert heatmap[0, 3, 3].item() == pytest.approx(math.exp(-4))
    assert heatmap[0, 4, 6] == 0
    # 1.5 x 1.5 and 1.75 x 1.25 cells, sized up to 2 x 2: radius 0.547 -> 0, single cells
    assert heatmap[1].sum() == 1 and heatmap[1, 1, 9] == 1
    assert heatmap[0, 0, 0] == 1 and heatmap[0, :2, :2].sum() == 1
    assert (heatmap == 1).sum() == 3  # one peak an object
    # the exact rule gives the 6 x 4 box radius 0.39 -> 0
    assert hand_targets(exact_radius=True)["heatmap"][0, 4, 5] == 0


def test_targets_ltrb():
    targets = hand_targets(size_format="ltrb")
    assert targets["size"][:3].tolist() == [[3.0, 2.0, 3.0, 2.0], [0.75] * 4, [0.875, 0.625, 0.875, 0.625]]
    assert targets["size"].shape == (5, 4)


def test_targets_errors():
    with pytest.raises(ValueError, match="3 objects in the image but max_objects is 2"):
        centernet_targets(torch.tensor([[0.0, 0.0, 8.0, 8.0]] * 3), torch.zeros(3), torch.arange(3), 1,
                          (8, 8), 4, max_objects=2)
    with pytest.raises(ValueError, match="size_format"):
        hand_targets(size_format="xywh")
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 2\)"):
        centernet_targets(torch.tensor([[0.0, 0.0, 8.0, 8.0]]), torch.tensor([2]), torch.tensor([0]), 2,
                          (8, 8), 4, max_objects=2)


def test_targets_without_objects():
    targets = centernet_targets(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 1, (4, 4), 4, max_objects=3)
    assert targets["heatmap"].sum() == 0 and not targets["mask"].any()
    assert targets["identities"].tolist() == [-1, -1, -1]


def logit(p):
    return math.log(p / (1 - p))


def test_focal_loss_by_hand():
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    logits = torch.tensor([[[[0.0, 0.0], [logit(0.2), logit(0.9)]]]])
    # Eq. 1 with a = 2, b = 4, N = 1:
    #   peak, Y^ = 0.5:       (1 - 0.5)^2 log 0.5               = -0.1732868
    #   Y = 0.5, Y^ = 0.5:    (1 - 0.5)^4 0.5^2 log 0.5         = -0.0108304
    #   Y = 0, Y^ = 0.2:      0.2^2 log 0.8                     = -0.0089257
    #   Y = 0, Y^ = 0.9:      0.9^2 log 0.1                     = -1.8650939
    assert centernet_focal_loss(logits, target).item() == pytest.approx(2.0581368, abs=1e-6)
    # two peaks, all Y^ = 0.5: -(2 * 0.25 log 0.5 + 2 * 0.25 log 0.5) / 2 = 0.5 log 2
    two_peaks = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert centernet_focal_loss(torch.zeros(1, 1, 2, 2), two_peaks).item() == pytest.approx(0.5 * math.log(2))
    # no peak: the negative terms over N = 1, 4 * 0.25 log 0.5
    assert centernet_focal_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == pytest.approx(math.log(2))


def test_focal_loss_vanishes_on_a_perfect_prediction():
    target = hand_targets()["heatmap"][None]
    logits = torch.where(target == 1, 30.0, -30.0)  # saturated: clamped to 1 - 1e-4 and 1e-4
    loss = centernet_focal_loss(logits, target)
    # each of the 160 cells contributes about (1e-4)^2 * -log(1 - 1e-4) = 1e-12 at most
    assert 0 <= loss.item() < 1e-10
    assert torch.isfinite(loss)


def test_gather_at():
    feature_map = torch.arange(24.0).reshape(2, 3, 2, 2)
    picked = gather_at(feature_map, torch.tensor([[3, 0], [1, 1]]))
    assert picked.shape == (2, 2, 3)
    assert picked[0].tolist() == [[3.0, 7.0, 11.0], [0.0, 4.0, 8.0]]
    assert picked[1].tolist() == [[13.0, 17.0, 21.0]] * 2


def test_regression_l1_loss_by_hand():
    pred_map = torch.arange(12.0).reshape(1, 2, 2, 3)  # channel 0: 0..5, channel 1: 6..11
    indices = torch.tensor([[4, 0, 5]])
    mask = torch.tensor([[True, True, False]])
    target = torch.tensor([[[3.0, 10.0], [1.0, 6.0], [100.0, 100.0]]])
    # read (4, 10) and (0, 6): |4 - 3| + |10 - 10| + |0 - 1| + |6 - 6| = 2 over 2 objects x 2 channels
    assert regression_l1_loss(pred_map, indices, mask, target).item() == pytest.approx(0.5)
    assert regression_l1_loss(pred_map, indices, torch.zeros_like(mask), target).item() == 0


def hand_heads():
    """Two classes on a 4 x 5 grid: a class-0 peak at (x, y) = (1, 1), its non-peak
    neighbour (2, 1) scoring above the class-1 peak at (3, 1)."""
    logits = torch.full((1, 2, 4, 5), -10.0)
    logits[0, 0, 1, 1] = 3.0
    logits[0, 0, 1, 2] = 2.0
    logits[0, 1, 1, 3] = 1.0  # next to the class-0 neighbour, but NMS is per class
    size = torch.full((1, 4, 4, 5), 100.0)
    size[0, :, 1, 1] = torch.tensor([4.0, 6.0, 1.0, 3.0])
    size[0, :, 1, 3] = torch.tensor([2.0, 2.0, 0.5, 0.25])
    offset = torch.full((1, 2, 4, 5), 100.0)
    offset[0, :, 1, 1] = torch.tensor([0.5, 0.25])
    offset[0, :, 1, 3] = torch.tensor([0.0, 0.5])
    return logits, size, offset


def test_decode_by_hand():
    logits, size, offset = hand_heads()
    out = decode_centernet(logits, size[:, :2], offset, k=2, stride=4)
    # (1 + 0.5, 1 + 0.25) +- (4, 6) / 2, and (3 + 0, 1 + 0.5) +- (2, 2) / 2, times 4
    assert out["boxes"].tolist() == [[[-2.0, -7.0, 14.0, 17.0], [8.0, 2.0, 16.0, 10.0]]]
    assert out["scores"][0].tolist() == pytest.approx([1 / (1 + math.exp(-3)), 1 / (1 + math.exp(-1))])
    assert out["classes"].tolist() == [[0, 1]]
    assert out["indices"].tolist() == [[1 * 5 + 1, 1 * 5 + 3]]
    # ltrb: (1.5 - 4, 1.25 - 6, 1.5 + 1, 1.25 + 3) and (3 - 2, 1.5 - 2, 3 + 0.5, 1.5 + 0.25), times 4
    out = decode_centernet(logits, size, offset, k=2, stride=4, size_format="ltrb")
    assert out["boxes"].tolist() == [[[-10.0, -19.0, 10.0, 17.0], [4.0, -2.0, 14.0, 7.0]]]


def test_decode_scores_suppressed_cells_zero():
    logits, size, offset = hand_heads()
    out = decode_centernet(logits, size[:, :2], offset, k=100)
    assert out["scores"].shape == (1, 40)  # k capped at 2 classes x 4 x 5 cells
    # suppressed: class 0, rows 0-2 x columns 0-3 but the peak (11 cells, the neighbour among
    # them); class 1, rows 0-2 x columns 2-4 but the peak (8). The flat background elsewhere
    # is its own 3x3 max: peaks of score sigmoid(-10), as in CenterNet.
    scores = out["scores"][0]
    assert (scores == 0).sum() == 19
    assert scores[2:21].tolist() == pytest.approx([1 / (1 + math.exp(10))] * 19)
    neighbour = (out["classes"][0] == 0) & (out["indices"][0] == 1 * 5 + 2)
    assert scores[neighbour].tolist() == [0.0]
    with pytest.raises(ValueError, match="needs 4 size channels"):
        decode_centernet(logits, size[:, :2], offset, size_format="ltrb")


def perfect_maps(targets, num_size_channels):
    """Head outputs that reproduce the targets exactly: peak logits where Y = 1, the size and
    offset targets written at their cells."""
    heatmap = targets["heatmap"]
    logits = torch.where(heatmap == 1, 10.0, -10.0)
    cells = targets["indices"][targets["mask"]]
    size = torch.zeros(num_size_channels, heatmap[0].numel())
    offset = torch.zeros(2, heatmap[0].numel())
    size[:, cells] = targets["size"][targets["mask"]].T
    offset[:, cells] = targets["offset"][targets["mask"]].T
    return logits[None], size.reshape(1, -1, *heatmap.shape[1:]), offset.reshape(1, 2, *heatmap.shape[1:])


@pytest.mark.parametrize("size_format", ["wh", "ltrb"])
def test_targets_decode_round_trip(size_format):
    boxes = torch.tensor([
        [3.3, 5.1, 40.7, 60.2],
        [10.1, 44.4, 22.2, 47.7],
        [50.2, 10.9, 55.4, 14.1],
        [60.5, 30.25, 94.0, 63.5],
    ])  # in increasing x1
    classes = torch.tensor([0, 1, 1, 0])
    targets = centernet_targets(boxes, classes, torch.arange(4), num_classes=2, output_size=(16, 24), stride=4,
                                max_objects=8, size_format=size_format)
    logits, size, offset = perfect_maps(targets, 2 if size_format == "wh" else 4)
    out = decode_centernet(logits, size, offset, k=4, stride=4, size_format=size_format)
    order = out["boxes"][0, :, 0].argsort()  # the scores tie; the boxes' x1 differ
    assert torch.allclose(out["boxes"][0, order], boxes, atol=1e-5, rtol=0)
    assert out["classes"][0, order].tolist() == classes.tolist()
    assert out["indices"][0, order].tolist() == targets["indices"][:4].tolist()


def test_prediction_heads_start_as_centernets():
    torch.manual_seed(0)
    features = torch.randn(2, 16, 8, 8)
    heatmap = prediction_head(16, 32, 3, HEATMAP_PRIOR)
    regression = prediction_head(16, 32, 2)
    # heatmap head: PyTorch's default weights (features reach the output), bias logit(0.1)
    assert torch.allclose(heatmap[2].bias, torch.full((3,), math.log(0.1 / 0.9)))
    assert heatmap(features).std() > 0.01
    # other heads: N(0, 0.001^2) weights and zero biases, so they start near 0
    assert regression[0].weight.std() < 0.002 and not regression[2].bias.any()
    assert regression(features).abs().max() < 1e-3
