"""SiamMOT's explicit motion model: geometry, targets, Eq. 4-6 by hand, and learning."""
import numpy as np
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
    # Sec. 3.3: r = f_S * f_R, "channel-wise cross correlation": each channel of the
    # search map correlated with the same channel of the template, valid positions only.
    search, template = torch.randn(2, 3, 6, 7), torch.randn(2, 3, 4, 3)
    s, t = search.numpy(), template.numpy()
    expected = np.zeros((2, 3, 3, 5), np.float32)
    for n, k, i, j in np.ndindex(*expected.shape):
        expected[n, k, i, j] = (s[n, k, i:i + 4, j:j + 3] * t[n, k]).sum()
    np.testing.assert_allclose(depthwise_xcorr(search, template).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert depthwise_xcorr(search[:0], template[:0]).shape == (0, 3, 3, 5)


@pytest.mark.slow
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


def eq6_targets(xs, ys, box, visible):
    """Eq. 6's ground truth at locations (x, y): v* = 1 "if (x, y) is within R^{t+delta}"
    (strictly inside: ours, the paper does not say for the border) of a visible target
    (R^{t+delta} is empty otherwise, Sec. 3.4); p* = [x - x0, y - y0, x1 - x, y1 - y];
    the centerness w(x, y) = sqrt(min(x - x0, x1 - x) / max(x - x0, x1 - x) *
    min(y - y0, y1 - y) / max(y - y0, y1 - y))."""
    x0, y0, x1, y1 = box
    v = ((xs > x0) & (xs < x1) & (ys > y0) & (ys < y1) & visible).astype(np.float64)
    p = np.stack([xs - x0, ys - y0, x1 - xs, y1 - ys])
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.sqrt(np.minimum(xs - x0, x1 - xs) / np.maximum(xs - x0, x1 - xs)
                    * np.minimum(ys - y0, y1 - ys) / np.maximum(ys - y0, y1 - ys))
    return v, p, w


def test_track_targets_are_eq6s():
    prev = torch.tensor([[40.0, 60.0, 100.0, 90.0], [10.0, 10.0, 30.0, 50.0], [10.0, 10.0, 30.0, 50.0]])
    search = search_regions(prev, 2.0)
    # a target inside the search region, one half outside it, one absent
    target = torch.tensor([[50.0, 55.0, 115.0, 100.0], [-5.0, 20.0, 25.0, 60.0], [12.0, 10.0, 32.0, 50.0]])
    visible = torch.tensor([True, True, False])
    locations = response_locations(search, T, S)
    labels, ltrb, weights = track_targets(locations, target, visible)
    for i in range(3):
        xs, ys = locations[i].double().numpy()
        v, p, w = eq6_targets(xs, ys, target[i].double().numpy(), visible[i].item())
        assert 0 < v.sum() < v.size or not visible[i]  # locations inside and outside
        np.testing.assert_array_equal(labels[i].numpy(), v)
        np.testing.assert_allclose(ltrb[i].numpy(), p, rtol=1e-5, atol=1e-4)
        inside = v == 1
        np.testing.assert_allclose(weights[i].numpy()[inside], w[inside], rtol=1e-5)
    assert labels[2].sum() == 0  # an absent target has no positive location


def test_centerness_is_fcos_centerness():
    # w(x, y) of Eq. 6 from the distances (l, t, r, b) = (x - x0, y - y0, x1 - x, y1 - y).
    ltrb = torch.rand(40, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 50 + 0.1
    l, t, r, b = ltrb.numpy().T
    expected = np.sqrt(np.minimum(l, r) / np.maximum(l, r) * np.minimum(t, b) / np.maximum(t, b))
    np.testing.assert_allclose(centerness(ltrb).numpy(), expected, rtol=1e-12)


def cosine_window_eq5(xs, ys, prev_box, half_extent):
    """C of Eq. 5, "the cosine-window function w.r.t the geometric center of the previous
    target region": a Hann window 0.5 (1 + cos(pi d / D)) along x times the one along y,
    d the offset from R^t's centre, 0 beyond D (ours: D is half the response grid's
    extent, which makes C SiamFC's Hanning window over the response map [6])."""
    cx, cy = (prev_box[0] + prev_box[2]) / 2, (prev_box[1] + prev_box[3]) / 2
    dx = np.minimum(np.abs(xs - cx) / half_extent[0], 1)
    dy = np.minimum(np.abs(ys - cy) / half_extent[1], 1)
    return 0.5 * (1 + np.cos(np.pi * dx)) * 0.5 * (1 + np.cos(np.pi * dy))


def scale_penalty_eq5(ltrb, prev_box, sigma):
    """S of Eq. 5, "a Gaussian function w.r.t the relative scale (height / width) changes
    between the candidate region and R^t". We read "(height / width)" as the changes of
    height and of width (not of the aspect ratio, which a uniform growth leaves
    unchanged), measured as log ratios so that growing and shrinking by one factor cost
    the same: exp(-(log(w'/w)^2 + log(h'/h)^2) / (2 sigma^2)) (sigma ours)."""
    l, t, r, b = ltrb
    w, h = prev_box[2] - prev_box[0], prev_box[3] - prev_box[1]
    return np.exp(-(np.log((l + r) / w) ** 2 + np.log((t + b) / h) ** 2) / (2 * sigma ** 2))


def random_response(n, generator):
    """Previous boxes, their search regions, response locations, and random (l, t, r, b)
    maps whose boxes grow and shrink."""
    corner = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 100
    prev = torch.cat([corner, corner + 10 + torch.rand(n, 2, generator=generator, dtype=torch.float64) * 50], 1)
    search = search_regions(prev, 2.0)
    locations = response_locations(search, T, S)
    size = (prev[:, 2:] - prev[:, :2]).repeat(1, 2)[:, :, None, None] / 2
    ltrb = size * torch.exp(torch.randn(n, 4, S - T + 1, S - T + 1, generator=generator, dtype=torch.float64) * 0.5)
    return prev, search, locations, ltrb


@pytest.mark.parametrize("window_weight", [0.0, 0.4, 1.0])
def test_motion_penalty_is_eq5(window_weight):
    # Eq. 5: eta(x, y) = lambda C + (1 - lambda) S(R(p(x, y)), R^t) (lambda 0.4 by default:
    # the paper gives none; the authors' COSINE_WINDOW_WEIGHT).
    prev, search, locations, ltrb = random_response(4, torch.Generator().manual_seed(4))
    half_extent = window_half_extent(search, T, S)
    eta = motion_penalty(locations, ltrb, prev, half_extent, window_weight, scale_sigma=0.4)
    for i in range(4):
        xs, ys = locations[i].numpy()
        window = cosine_window_eq5(xs, ys, prev[i].numpy(), half_extent[i].numpy())
        scale = scale_penalty_eq5(ltrb[i].numpy(), prev[i].numpy(), 0.4)
        np.testing.assert_allclose(eta[i].numpy(), window_weight * window + (1 - window_weight) * scale, rtol=1e-9)
    # locations beyond the half extent reach C = 0
    far = torch.tensor([[[[0.0, 70.0, 500.0]], [[75.0, 75.0, 75.0]]]], dtype=torch.float64)
    window = cosine_window(far, torch.tensor([[40.0, 60.0, 100.0, 90.0]], dtype=torch.float64),
                           torch.tensor([[60.0, 30.0]], dtype=torch.float64))
    np.testing.assert_allclose(window[0, 0].numpy(), cosine_window_eq5(
        far[0, 0].numpy(), far[0, 1].numpy(), [40.0, 60.0, 100.0, 90.0], [60.0, 30.0])[0], atol=1e-12)
    assert window[0, 0, 0] == 0 and window[0, 0, 1] == 1


def test_cosine_window_is_siamfcs_hanning_window():
    prev = torch.tensor([[40.0, 60.0, 100.0, 90.0]])
    search = search_regions(prev, 2.0)
    window = cosine_window(response_locations(search, T, S), prev, window_half_extent(search, T, S))[0]
    hann = torch.hann_window(S - T + 1, periodic=False, dtype=torch.float64).float()
    assert torch.allclose(window, hann[:, None] * hann[None, :], atol=1e-5)


def test_scale_penalty_is_one_for_an_unchanged_box_and_symmetric():
    prev = torch.tensor([[0.0, 0.0, 20.0, 10.0]])
    ltrb = torch.tensor([[10.0, 5.0, 10.0, 5.0], [20.0, 5.0, 20.0, 5.0], [5.0, 5.0, 5.0, 5.0]]).T[None, :, None]
    assert scale_penalty(ltrb, prev, sigma=0.4)[0, 0].tolist() == pytest.approx(
        scale_penalty_eq5(ltrb[0, :, 0].numpy(), prev[0].numpy(), 0.4).tolist())
    penalty = scale_penalty(ltrb, prev, sigma=0.4)[0, 0]
    assert penalty[0] == 1 and penalty[1] == pytest.approx(penalty[2].item())  # twice or half the width


def test_decoding_is_eq4():
    # Eq. 4: (x*, y*) = argmax_{x, y} (v . eta); R~ = R(p(x*, y*)) = [x - l, y - t, x + r,
    # y + b] and v^{t+delta} = v(x*, y*) (without the penalty).
    gen = torch.Generator().manual_seed(5)
    prev, search, locations, ltrb = random_response(6, gen)
    visibility = torch.rand(6, S - T + 1, S - T + 1, generator=gen, dtype=torch.float64)
    penalty = torch.rand(6, S - T + 1, S - T + 1, generator=gen, dtype=torch.float64)
    boxes, vis = decode_response(visibility, penalty, locations, ltrb)
    moved = 0  # cases where the penalty moves the choice off the most visible location
    for i in range(6):
        row, col = np.unravel_index(np.argmax(visibility[i].numpy() * penalty[i].numpy()), penalty[i].shape)
        moved += (row, col) != np.unravel_index(np.argmax(visibility[i].numpy()), penalty[i].shape)
        x, y = locations[i, :, row, col].numpy()
        l, t, r, b = ltrb[i, :, row, col].numpy()
        np.testing.assert_allclose(boxes[i].numpy(), [x - l, y - t, x + r, y + b], rtol=1e-12)
        assert vis[i].item() == visibility[i, row, col].item()
    assert moved > 0


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


def box_iou_numpy(a, b):
    """IoU of x1, y1, x2, y2 boxes, row by row."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def test_emm_loss_is_eq6():
    # Eq. 6: L = sum_xy l_focal(v(x, y), v*(x, y)) + sum_xy 1[v* = 1] w(x, y) l_reg(p, p*),
    # l_reg "the IOU Loss" of UnitBox [70], -ln(IoU) of the boxes R(p(x, y)) and
    # R^{t+delta}; the focal loss with RetinaNet's alpha 0.25, gamma 2. Normalisation
    # (ours, as FCOS): the focal sum by the number of positive locations, the weighted
    # IoU sum by the sum of the weights.
    torch.manual_seed(0)
    model = EMM(32).double()
    template, search, prev, search_boxes, target, visible = [
        x.double() if x.is_floating_point() else x for x in make_problem(3, 2)]
    losses = model.losses(template, search, prev, search_boxes, target, visible)
    with torch.no_grad():
        logits, ltrb = model(template, search, search_boxes)
    locations = response_locations(search_boxes, T, S).numpy()
    focal, weighted, weights, positives = 0.0, 0.0, 0.0, 0
    for i in range(len(template)):
        xs, ys = locations[i]
        v, _, w = eq6_targets(xs, ys, target[i].numpy(), visible[i].item())
        z = logits[i].numpy()
        p = 1 / (1 + np.exp(-z))
        focal += np.where(v == 1, -0.25 * (1 - p) ** 2 * np.log(p), -0.75 * p ** 2 * np.log(1 - p)).sum()
        inside = v == 1
        l, t, r, b = ltrb[i].numpy()[:, inside]
        predicted = np.stack([xs[inside] - l, ys[inside] - t, xs[inside] + r, ys[inside] + b], axis=1)
        iou = box_iou_numpy(predicted, np.repeat(target[i].numpy()[None], inside.sum(), axis=0))
        weighted += (w[inside] * -np.log(iou)).sum()
        weights += w[inside].sum()
        positives += inside.sum()
    assert positives > 0
    assert losses["loss_track_vis"].item() == pytest.approx(focal / positives, rel=1e-6)
    assert losses["loss_track_reg"].item() == pytest.approx(weighted / weights, rel=1e-6)


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
