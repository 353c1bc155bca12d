"""RoIAlign with the vectorised CPU backward (mot_heads/modeling/poolers.py)."""
import pytest
import torch
from detectron2.layers import ROIAlign as Detectron2ROIAlign
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes
from torchvision.ops import roi_align

from mot_heads.modeling.poolers import ROIAlign, roi_align_backward, with_fast_backward


def _random_rois(count: int, images: int, extent, generator) -> torch.Tensor:
    """RoIs (count, 5) of ``images`` images, some reaching past every border of ``extent`` (w, h)."""
    corners = torch.rand(count, 4, generator=generator, dtype=torch.double)
    corners = corners * torch.tensor([*extent, *extent], dtype=torch.double) * 1.3 - 3
    low, high = corners[:, :2].minimum(corners[:, 2:]), corners[:, :2].maximum(corners[:, 2:])
    index = torch.randint(0, images, (count, 1), generator=generator).double()
    return torch.cat([index, low, high], dim=1)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_gradient_equals_torchvisions(aligned, sampling_ratio):
    generator = torch.Generator().manual_seed(sampling_ratio)
    features = torch.randn(2, 5, 13, 17, dtype=torch.double, generator=generator, requires_grad=True)
    rois = _random_rois(40, 2, (20.0, 16.0), generator)
    upstream = torch.randn(40, 5, 3, 4, dtype=torch.double, generator=generator)
    pooled = ROIAlign((3, 4), 0.8, sampling_ratio, aligned)(features, rois)
    reference = roi_align(features, rois, (3, 4), 0.8, sampling_ratio, aligned)
    assert torch.equal(pooled, reference)
    expected, = torch.autograd.grad(reference, features, upstream)
    got, = torch.autograd.grad(pooled, features, upstream)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_gradient_by_hand():
    # Aligned, scale 1: the box [0.5, 2.0] starts at cell coordinate 0 and ends at 1.5; its
    # one bin's one sample is at 0.75 on both axes, between cells 0 (weight 0.25) and 1 (0.75).
    grad = roi_align_backward(torch.ones(1, 1, 1, 1), torch.tensor([[0.0, 0.5, 0.5, 2.0, 2.0]]), (1, 1, 3, 3),
                              1.0, 1, True)
    expected = torch.tensor([[0.0625, 0.1875, 0.0], [0.1875, 0.5625, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(grad[0, 0], expected)


def test_samples_off_the_map():
    # Aligned, scale 1: the box x in [-2, 1] spans cell coordinates [-2.5, 0.5] in two bins,
    # sampled at -1.75 (beyond -1: adds nothing) and -0.25 (in [-1, 0]: sits on cell 0); y in
    # [0, 2] is one bin sampled at 0.5, half on each of cells 0 and 1.
    grad = roi_align_backward(torch.tensor([[[[2.0, 3.0]]]]), torch.tensor([[0.0, -2.0, 0.0, 1.0, 2.0]]),
                              (1, 1, 2, 2), 1.0, 1, True)
    torch.testing.assert_close(grad[0, 0], torch.tensor([[1.5, 0.0], [1.5, 0.0]]))


def test_gradcheck():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 2, 6, 7, dtype=torch.double, generator=generator, requires_grad=True)
    rois = _random_rois(5, 2, (7.0, 6.0), generator)
    assert torch.autograd.gradcheck(lambda x: ROIAlign((2, 3), 1.0, 2, True)(x, rois), (features,))


def test_adaptive_sampling_keeps_torchvisions_backward():
    features = torch.randn(1, 3, 8, 8, requires_grad=True)
    rois = torch.tensor([[0.0, 1.0, 1.0, 7.0, 6.0]])
    pooled = ROIAlign((2, 2), 1.0, 0, True)(features, rois)
    assert type(pooled.grad_fn).__name__ != "_ROIAlignFunctionBackward"
    assert type(ROIAlign((2, 2), 1.0, 2, True)(features, rois).grad_fn).__name__ == "_ROIAlignFunctionBackward"
    assert torch.equal(pooled, roi_align(features, rois, (2, 2), 1.0, 0, True))


@pytest.mark.parametrize("sampling_ratio", [0, 1])
def test_rejects_malformed_rois(sampling_ratio):
    features = torch.randn(1, 3, 8, 8, requires_grad=True)
    with pytest.raises(ValueError, match=r"\(R, 5\)"):
        ROIAlign((2, 2), 1.0, sampling_ratio, True)(features, torch.zeros(3, 4))


def test_with_fast_backward_keeps_the_pooler():
    features = [torch.randn(2, 4, 32, 32, requires_grad=True), torch.randn(2, 4, 16, 16, requires_grad=True)]
    boxes = [Boxes(torch.tensor([[2.0, 3.0, 20.0, 30.0], [10.0, 10.0, 120.0, 100.0]])),
             Boxes(torch.tensor([[0.0, 0.0, 60.0, 40.0]]))]
    original = ROIPooler(5, (1 / 4, 1 / 8), 2, "ROIAlignV2", canonical_box_size=64, canonical_level=3)
    fast = with_fast_backward(ROIPooler(5, (1 / 4, 1 / 8), 2, "ROIAlignV2", canonical_box_size=64,
                                        canonical_level=3))
    assert all(type(p) is ROIAlign for p in fast.level_poolers)
    assert [p.spatial_scale for p in fast.level_poolers] == [p.spatial_scale for p in original.level_poolers]
    expected, got = original(features, boxes), fast(features, boxes)
    assert torch.equal(got, expected)
    upstream = torch.randn_like(expected)
    wanted, had = torch.autograd.grad(expected, features, upstream), torch.autograd.grad(got, features, upstream)
    for want, have in zip(wanted, had):
        torch.testing.assert_close(have, want)
    assert type(with_fast_backward(ROIPooler(5, (1 / 4,), 2, "ROIPool")).level_poolers[0]) is not ROIAlign
    assert type(original.level_poolers[0]) is Detectron2ROIAlign
