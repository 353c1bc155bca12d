"""SiamMOT's explicit motion model: geometry, targets, Eq. 4-6 by hand, and learning."""
import math

import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ROIAlign
from torchvision.ops import box_iou
from torchvision.transforms.functional import gaussian_blur

from mot_heads.modeling.siammot.emm import (
    EMM, centerness, cosine_window, decode_response, depthwise_xcorr, motion_penalty, response_locations,
    scale_penalty, track_targets, window_half_extent,
)
from mot_heads.modeling.siammot.regions import search_regions

T, S = 15, 30  # the paper's template and search resolutions


def test_response_locations_by_hand():
    # cells of 10 x 5 px; cell j sits at x0 + (j + 7.5) * cell
    locations = response_locations(torch.tensor([[10.0, 20.0, 310.0, 170.0]]), T, S)
    assert locations.shape == (1, 2, 16, 16)
    assert locations[0, :, 0, 0].tolist() == [85.0, 57.5]
    assert locations[0, :, 15, 15].tolist() == [235.0, 132.5]
    assert locations[0, :, 3, 5].tolist() == [135.0, 72.5]  # x from the column, y from the row
    assert torch.allclose(locations[0].flatten(1).mean(dim=1), torch.tensor([160.0, 95.0]))  # the region's centre


def test_response_locations_match_roialign_samples():
    """Location j is where aligned RoIAlign samples search cell j + T // 2, the cell
    under the template's centre."""
    height, width = 64, 80
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    coordinate_map = torch.stack([xs, ys])[None] + 0.5  # a feature holding its own pixel centre
    search_box = torch.tensor([[3.0, 5.0, 63.0, 50.0]])
    pooled = ROIAlign((S, S), 1.0, 2, aligned=True)(coordinate_map, torch.cat([torch.zeros(1, 1), search_box], 1))
    locations = response_locations(search_box, T, S)
    under_centre = pooled[:, :, T // 2: T // 2 + S - T + 1, T // 2: T // 2 + S - T + 1]
    assert torch.allclose(locations, under_centre, atol=1e-4)


def test_depthwise_xcorr_is_valid_channelwise_correlation():
    search, template = torch.randn(2, 3, 6, 6), torch.randn(2, 3, 4, 4)
    response = depthwise_xcorr(search, template)
    assert response.shape == (2, 3, 3, 3)
    expected = (search[1, 2, 1:5, 2:6] * template[1, 2]).sum()
    assert torch.isclose(response[1, 2, 1, 2], expected, atol=1e-5)
    assert depthwise_xcorr(search[:0], template[:0]).shape == (0, 3, 3, 3)


def test_depthwise_xcorr_gradients_match_the_grouped_convolution():
    search = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    template = torch.randn(2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(depthwise_xcorr, (search, template))
    weights = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    (depthwise_xcorr(search, template) * weights).sum().backward()
    expected = torch.autograd.grad(
        (F.conv2d(search.reshape(1, 6, 7, 6), template.reshape(6, 1, 4, 3), groups=6).reshape(2, 3, 4, 4)
         * weights).sum(), (search, template))
    assert torch.allclose(search.grad, expected[0]) and torch.allclose(template.grad, expected[1])


def test_track_targets_by_hand():
    # a 1 x 3 row of locations against the box [0, 0, 10, 20]
    locations = torch.tensor([[[[4.0, 0.0, 12.0]], [[5.0, 5.0, 5.0]]]])
    target = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    labels, ltrb, weights = track_targets(locations, target, torch.tensor([True]))
    assert labels.tolist() == [[[1.0, 0.0, 0.0]]]  # inside, on the left side, outside
    assert ltrb[0, :, 0, 0].tolist() == [4.0, 5.0, 6.0, 15.0]
    assert weights[0, 0, 0].item() == pytest.approx(math.sqrt(4 / 6 * 5 / 15))
    assert weights[0, 0, 1:].tolist() == [0.0, 0.0]
    labels, _, _ = track_targets(locations, target, torch.tensor([False]))
    assert labels.sum() == 0  # an absent target has no positive location


def test_centerness_values():
    ltrb = torch.tensor([[5.0, 5.0, 5.0, 5.0], [2.0, 3.0, 8.0, 3.0], [-1.0, 2.0, 4.0, 2.0]])
    assert centerness(ltrb).tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_cosine_window_peaks_at_previous_centre():
    prev = torch.tensor([[40.0, 60.0, 100.0, 90.0]])
    search = search_regions(prev, 2.0)
    window = cosine_window(response_locations(search, T, S), prev, window_half_extent(search, T, S))[0]
    hann = torch.hann_window(16, periodic=False, dtype=torch.float64).float()
    assert torch.allclose(window, hann[:, None] * hann[None, :], atol=1e-5)  # SiamFC's Hanning window
    assert window[7:9, 7:9].min() == window.max()  # the 4 cells about the centre
    # 1 on the previous centre, 0 at the half extent and beyond
    points = torch.tensor([[[[70.0, 10.0, 150.0]], [[75.0, 75.0, 75.0]]]])
    window = cosine_window(points, prev, torch.tensor([[60.0, 30.0]]))
    assert window[0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_scale_penalty_by_hand():
    prev = torch.tensor([[0.0, 0.0, 20.0, 10.0]])
    ltrb = torch.tensor([[10.0, 5.0, 10.0, 5.0], [30.0, 5.0, 10.0, 5.0], [5.0, 5.0, 5.0, 5.0]]).T[None, :, None]
    # unchanged size; width doubled: exp(-ln(2)^2 / (2 * 0.4^2)) = exp(-1.5014) = 0.2228; width halved: same
    assert scale_penalty(ltrb, prev, sigma=0.4)[0, 0].tolist() == pytest.approx([1.0, 0.2228, 0.2228], abs=1e-4)


def test_motion_penalty_mixes_window_and_scale():
    prev = torch.tensor([[0.0, 0.0, 20.0, 10.0]])
    locations = torch.tensor([[[[10.0, 20.0, 30.0]], [[5.0, 5.0, 5.0]]]])  # centre, mid-way, the edge
    ltrb = torch.tensor([[10.0, 5.0, 10.0, 5.0]] + [[30.0, 5.0, 10.0, 5.0]] * 2).T[None, :, None]
    eta = motion_penalty(locations, ltrb, prev, torch.tensor([[20.0, 10.0]]), window_weight=0.4, scale_sigma=0.4)
    # window 1, 0.5, 0 (0.5 * (1 + cos(pi / 2)) half-way); scale 1, 0.2228, 0.2228
    expected = [0.4 + 0.6, 0.4 * 0.5 + 0.6 * 0.2228, 0.6 * 0.2228]
    assert eta[0, 0].tolist() == pytest.approx(expected, abs=1e-4)


def test_decode_takes_argmax_of_penalised_visibility():
    locations = torch.tensor([[[[10.0, 20.0]], [[5.0, 5.0]]]])
    ltrb = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]).T[None, :, None]
    visibility = torch.tensor([[[0.9, 0.6]]])
    penalty = torch.tensor([[[0.5, 1.0]]])  # 0.45 < 0.6: the penalty moves the choice
    boxes, vis = decode_response(visibility, penalty, locations, ltrb)
    assert boxes.tolist() == [[15.0, -1.0, 27.0, 13.0]]
    assert vis.tolist() == pytest.approx([0.6])  # v at the chosen cell, without the penalty


def test_decoding_target_maps_gives_back_the_target():
    prev = torch.tensor([[100.0, 50.0, 160.0, 170.0], [10.0, 10.0, 40.0, 30.0]])
    search = search_regions(prev, 2.0)
    target = torch.tensor([[112.0, 40.0, 180.0, 150.0], [5.0, 14.0, 38.0, 40.0]])
    locations = response_locations(search, T, S)
    labels, ltrb, _ = track_targets(locations, target, torch.tensor([True, True]))
    penalty = motion_penalty(locations, ltrb.clamp(min=1e-3), prev, window_half_extent(search, T, S), 0.4, 0.4)
    boxes, vis = decode_response(labels, penalty, locations, ltrb)
    assert torch.allclose(boxes, target, atol=1e-4)
    assert vis.tolist() == [1.0, 1.0]


def smooth_texture(n, channels, size, generator, sigma=2.0):
    """Gaussian-blurred noise with unit variance: like CNN features, smooth at the scale
    of a cell (white noise would give a one-cell correlation peak that a 3x3 head could
    not see from the target's other cells)."""
    noise = torch.randn(n, channels, size, size, generator=generator)
    blurred = gaussian_blur(noise, kernel_size=2 * int(3 * sigma) + 1, sigma=sigma)
    return blurred / blurred.std(dim=(2, 3), keepdim=True)


def make_problem(num_visible, num_absent, channels=32, seed=0):
    """Texture search maps whose template is cut at a known cell offset (visible triplets)
    or is another texture (absent ones); cells of random size and aspect per triplet."""
    gen = torch.Generator().manual_seed(seed)
    n = num_visible + num_absent
    search = smooth_texture(n, channels, S, gen)
    offsets = torch.randint(3, S - T - 2, (n, 2), generator=gen)  # (x, y) in cells
    template = torch.stack([search[i, :, y: y + T, x: x + T] for i, (x, y) in enumerate(offsets.tolist())])
    template[num_visible:] = smooth_texture(num_absent, channels, T, gen)
    cells = 4 + 8 * torch.rand(n, 2, generator=gen)
    origins = 100 * torch.rand(n, 2, generator=gen)
    search_boxes = torch.cat([origins, origins + S * cells], dim=1)
    prev_boxes = torch.cat([origins + T / 2 * cells, origins + 1.5 * T * cells], dim=1)
    target_boxes = torch.cat([origins + offsets * cells, origins + (offsets + T) * cells], dim=1)
    visible = torch.arange(n) < num_visible
    return template, search, prev_boxes, search_boxes, target_boxes, visible


def test_forward_shapes_and_initial_prior():
    template, search, prev, search_boxes, _, _ = make_problem(3, 1)
    model = EMM(32)
    logits, ltrb = model(template, search, search_boxes)
    assert logits.shape == (4, 16, 16) and ltrb.shape == (4, 4, 16, 16)
    assert (ltrb > 0).all()
    assert logits.sigmoid().mean().item() == pytest.approx(0.01, rel=0.2)
    # p starts as the template's size about each location: about R^t's size
    width = (ltrb[:, 0] + ltrb[:, 2]).mean(dim=(1, 2))
    assert torch.allclose(width, prev[:, 2] - prev[:, 0], rtol=0.1)


def test_losses_finite_and_reach_every_parameter():
    model = EMM(32)
    losses = model.losses(*make_problem(3, 2))
    assert set(losses) == {"loss_track_vis", "loss_track_reg"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("batch", ["empty", "absent"])
def test_losses_without_visible_triplets(batch):
    model = EMM(32)
    problem = make_problem(0, 3)
    if batch == "empty":
        problem = [x[:0] for x in problem]
    losses = model.losses(*problem)
    assert losses["loss_track_reg"].item() == 0.0
    if batch == "empty":
        assert losses["loss_track_vis"].item() == 0.0
    else:  # absent targets still teach v = 0 everywhere
        assert losses["loss_track_vis"].item() > 0
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_predict_shapes_and_empty_batch():
    model = EMM(32).eval()
    template, search, prev, search_boxes, _, _ = make_problem(2, 1)
    boxes, vis = model.predict(template, search, prev, search_boxes)
    assert boxes.shape == (3, 4) and vis.shape == (3,)
    assert ((vis >= 0) & (vis <= 1)).all()
    boxes, vis = model.predict(template[:0], search[:0], prev[:0], search_boxes[:0])
    assert boxes.shape == (0, 4) and vis.shape == (0,)


@pytest.fixture
def one_thread():
    """Tiny convolutions run fastest on one thread, above all beside other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_learns_to_track_a_texture(one_thread):
    """A few hundred steps on fixed triplets: the loss falls, the model finds the
    template's box and tells visible targets from absent ones, and its boxes carry over
    to new textures."""
    torch.manual_seed(0)
    model = EMM(32)
    train = make_problem(12, 8, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    initial = sum(model.losses(*train).values()).item()
    for _ in range(300):
        loss = sum(model.losses(*train).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * initial

    model.eval()
    template, search, prev, search_boxes, target, visible = train
    with torch.no_grad():
        boxes, vis = model.predict(template, search, prev, search_boxes)
    assert box_iou(boxes[visible], target[visible]).diagonal().min() > 0.85
    assert (vis[visible] > 0.5).all() and (vis[~visible] < 0.5).all()

    template, search, prev, search_boxes, target, visible = make_problem(16, 4, seed=2)
    with torch.no_grad():
        boxes, _ = model.predict(template, search, prev, search_boxes)
    ious = box_iou(boxes, target).diagonal()[visible]
    assert ious.mean() > 0.8 and (ious > 0.7).sum() >= 12
