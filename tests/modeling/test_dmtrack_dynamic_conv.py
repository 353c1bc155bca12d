"""DMTrack's dynamic convolutions: Eq. 2-3 by their formulas, batched d-convs against a loop, the
integration places of Fig. 5, template-dependent kernels and gradients to the controllers."""
import pytest
import torch
import torch.nn.functional as F
from detectron2.structures import Boxes

from mot_heads.modeling.dmtrack import (
    DynamicTower, TemplateController, dynamic_conv1x1, dynamic_parameter_count, parse_integration_places,
)

C, C_R = 32, 8  # tower and reduced widths of the small test models (the paper's: 256, 32)


def parameter_number(c_in, k_w, k_h, c_out):
    """Eq. 3, DMTrack: PN(conv) = (C^u x K_w^u x K_h^u + 1) x C^{u+1}, weights and biases."""
    return (c_in * k_w * k_h + 1) * c_out


def test_parameter_count_follows_eq3_for_1x1_convs():
    # "we simply generate 1 x 1 convolutions" (Sec. 4.1), as many channels out as in
    for channels in (256, 32, 4):
        assert dynamic_parameter_count(channels) == parameter_number(channels, 1, 1, channels)
    assert dynamic_parameter_count(4, layers=3) == 3 * parameter_number(4, 1, 1, 4)
    assert dynamic_parameter_count(4, layers=0) == 0
    # Eq. 2: C^g = sum_u PN(conv_cls^u) + sum_v PN(conv_reg^v); the paper's k = 4
    # controllers serve "1+6" of both heads (256 channels at place 1, 32 at place 6)
    controller = TemplateController()
    assert controller.layer_channels == (256, 32, 256, 32)
    c_g = sum(parameter_number(c, 1, 1, c) for c in (256, 32)) + sum(parameter_number(c, 1, 1, c) for c in (256, 32))
    assert sum(c.out_channels for c in controller.controllers) == c_g
    for bad in [(0, 1), (-3, 1), (4, -1)]:
        with pytest.raises(ValueError, match="channels"):
            dynamic_parameter_count(*bad)


def test_dynamic_conv1x1_equals_a_loop_of_conv2d():
    torch.manual_seed(0)
    features, weights, biases = torch.randn(3, 5, 4, 6), torch.randn(3, 7, 5), torch.randn(3, 7)
    out = dynamic_conv1x1(features, weights, biases)
    loop = torch.cat([F.conv2d(features[b:b + 1], weights[b, :, :, None, None], biases[b]) for b in range(3)])
    assert out.shape == (3, 7, 4, 6)
    torch.testing.assert_close(out, loop)


def test_dynamic_conv1x1_rejects_kernels_that_do_not_fit():
    features = torch.zeros(2, 5, 3, 3)
    with pytest.raises(ValueError, match="2 feature maps"):
        dynamic_conv1x1(features, torch.zeros(3, 4, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="5 input channels"):
        dynamic_conv1x1(features, torch.zeros(2, 4, 6), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="5 input channels"):
        dynamic_conv1x1(features, torch.zeros(2, 4, 5), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="expected features"):
        dynamic_conv1x1(features[0], torch.zeros(2, 4, 5), torch.zeros(2, 4))


def test_integration_places_parse_and_errors():
    assert parse_integration_places("1+6", 6) == (1, 6)
    assert parse_integration_places(" 6 + 1 ", 6) == (1, 6)
    assert parse_integration_places("3", 6) == (3,)
    assert parse_integration_places("1+2+3+4+5+6", 6) == (1, 2, 3, 4, 5, 6)
    for spec in ["", "1+", "a", "1+x", "1.5", "-1", "1,6"]:
        with pytest.raises(ValueError, match="place numbers joined by"):
            parse_integration_places(spec, 6)
    with pytest.raises(ValueError, match=r"\[0, 7\] outside 1..6"):
        parse_integration_places("0+1+7", 6)
    with pytest.raises(ValueError, match="repeated"):
        parse_integration_places("1+1", 6)
    with pytest.raises(TypeError, match="string"):
        parse_integration_places(16, 6)
    with pytest.raises(ValueError, match="outside 1..5"):
        DynamicTower(C, num_convs=3, reduced_channels=C_R, integration="1+6")  # 3 convs: places 1..5


def identity_kernels(batch, channels):
    return torch.eye(channels).expand(batch, -1, -1), torch.zeros(batch, channels)


def test_tower_places_by_hand():
    """Place 1 is the tower's input, place p the output of static layer p - 1, the last
    place the output of the closing 1x1 reduction."""
    torch.manual_seed(0)
    tower = DynamicTower(C, num_convs=4, reduced_channels=C_R, integration="1+6")
    assert tower.places == (1, 6) and tower.dynamic_channels == [C, C_R] and tower.out_channels == C_R
    x = torch.randn(2, C, 5, 7)

    def static(features, layers):
        for layer in layers:
            features = layer(features)
        return features

    layers = [*tower.convs, tower.reduce]
    # identity d-convs leave only their ReLU: relu(reduce(convs(relu(x))))
    out, = tower([x], [identity_kernels(2, C), identity_kernels(2, C_R)])
    torch.testing.assert_close(out, F.relu(static(F.relu(x), layers)))
    # a d-conv with zero weights and bias b at place 3 feeds relu(b) to static layer 3 on
    tower = DynamicTower(C, num_convs=4, reduced_channels=C_R, integration="3")
    bias = torch.randn(2, C)
    out, = tower([x], [(torch.zeros(2, C, C), bias)])
    constant = F.relu(bias)[:, :, None, None].expand(-1, -1, 5, 7)
    torch.testing.assert_close(out, static(constant, [*tower.convs, tower.reduce][2:]))


def test_tower_rejects_missing_or_misshaped_kernels():
    tower = DynamicTower(C, num_convs=4, reduced_channels=C_R, integration="1+6")
    x = torch.zeros(2, C, 4, 4)
    with pytest.raises(ValueError, match=r"places \(1, 6\) but 1 kernels"):
        tower([x], [identity_kernels(2, C)])
    with pytest.raises(ValueError, match=r"\[32, 8\] channels wide"):
        tower([x], [identity_kernels(2, C), identity_kernels(2, C)])


def template_model(seed=0):
    torch.manual_seed(seed)
    towers = [DynamicTower(C, num_convs=2, reduced_channels=C_R, integration="1+4") for _ in range(2)]
    controller = TemplateController(C, towers[0].dynamic_channels + towers[1].dynamic_channels)
    assert len(controller.controllers) == 4  # k = 2 towers x 2 places
    return controller, towers


def search_levels(batch=1):
    return [torch.randn(batch, C, size, size) for size in (16, 8, 4)]  # P3-P5 of a 128 x 128 image


def test_generated_kernels_have_eq3_shapes_and_equal_conv_then_gap():
    controller, _ = template_model()
    roi = torch.randn(3, C, 7, 7)
    kernels = controller.generate(roi)
    assert [(w.shape, b.shape) for w, b in kernels] == [((3, C, C), (3, C)), ((3, C_R, C_R), (3, C_R))] * 2
    # Eq. 2 in the paper's order: 1x1 conv on the 7 x 7 map, then global average pooling
    for channels, conv, (weights, biases) in zip(controller.layer_channels, controller.controllers, kernels):
        theta = conv(roi).mean(dim=(2, 3))
        torch.testing.assert_close(weights, theta[:, :channels * channels].view(3, channels, channels))
        torch.testing.assert_close(biases, theta[:, channels * channels:])


def test_tower_output_follows_the_template():
    controller, (cls_tower, _) = template_model()
    template_levels = search_levels(2)  # two template images
    boxes = [Boxes(torch.tensor([[8.0, 8.0, 60.0, 72.0]])), Boxes(torch.tensor([[40.0, 30.0, 120.0, 90.0],
                                                                               [8.0, 8.0, 60.0, 72.0]]))]
    kernels = controller(template_levels, boxes)  # B = 3 templates
    assert kernels[0][0].shape == (3, C, C)
    search = [level.expand(3, -1, -1, -1) for level in search_levels(1)]  # three pairs on one search image
    outputs = cls_tower(search, kernels[:2])
    assert [o.shape for o in outputs] == [(3, C_R, 16, 16), (3, C_R, 8, 8), (3, C_R, 4, 4)]
    for level in outputs:
        assert not torch.allclose(level[0], level[1])  # different templates, different kernels and outputs
        assert not torch.allclose(level[0], level[2])  # the same box on another template image, too
    # the same template twice, the same output
    twice = controller([t[:1].expand(2, -1, -1, -1) for t in template_levels], [boxes[0], boxes[0]])
    out = cls_tower([level[:2] for level in search], twice[:2])
    for level in out:
        torch.testing.assert_close(level[0], level[1])


def test_gradients_reach_every_controller_and_the_towers():
    controller, towers = template_model()
    template_levels = search_levels(1)
    kernels = controller(template_levels, [Boxes(torch.tensor([[10.0, 12.0, 70.0, 90.0]]))])
    search = search_levels(1)
    loss = sum((level * torch.randn_like(level)).sum() for level in towers[0](search, kernels[:2]))
    loss = loss + sum((level * torch.randn_like(level)).sum() for level in towers[1](search, kernels[2:]))
    loss.backward()
    for index, conv in enumerate(controller.controllers):
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0, index
    for tower in towers:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tower.parameters())


def test_controller_rejects_wrong_levels_and_no_layers():
    controller, _ = template_model()
    with pytest.raises(ValueError, match="2 feature levels given for strides"):
        controller(search_levels(1)[:2], [Boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0]]))])
    with pytest.raises(ValueError, match="at least one dynamic layer"):
        TemplateController(C, ())
