"""ID losses and loss balance of the one-shot model, against hand computations."""
import math

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.structures import Instances

from mot_heads import add_mot_config

from mot_heads.modeling.one_shot.id_losses import CrossEntropyIDLoss, embedding_scale
from mot_heads.modeling.one_shot.loss_balance import UncertaintyWeighting


def targets(*identities):
    out = []
    for ids in identities:
        t = Instances((8, 8))
        t.gt_identities = torch.tensor(ids, dtype=torch.int64)
        out.append(t)
    return out


def test_cross_entropy_id_loss_is_eq_9():
    """Eq. 9, CSTrack: L_id = -1/N sum_i sum_c Y^i(c) log p(c), p the softmax of "a FC layer"
    on the ID embedding. The embedding enters the FC L2-normalised and scaled by
    sqrt(2) log(C - 1), as in JDE, which the paper's ReID loss follows ("The definition and
    training of ReID loss follow the baseline tracker JDE"). N: the paper's "number of
    objects in the current image"; over a batch we take the mean over all its objects with
    an identity (JDE's code), which is Eq. 9 for a batch of one image. Boxes without an
    identity (-1) are not in Eq. 9's sum."""
    num_identities, dim = 5, 4
    loss = CrossEntropyIDLoss(embed_dim=dim, num_identities=num_identities)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.randn(num_identities, dim, generator=gen))
        loss.classifier.bias.copy_(torch.randn(num_identities, generator=gen))
    embeddings = [torch.randn(3, dim, generator=gen), torch.randn(2, dim, generator=gen)]
    identities = ([4, -1, 0], [2, 2])
    value = loss(embeddings, targets(*identities), None, [{}, {}])["loss_id"].item()

    weight, bias = loss.classifier.weight.detach().numpy(), loss.classifier.bias.detach().numpy()
    scale = math.sqrt(2) * math.log(num_identities - 1)
    terms = []
    for image_embeddings, image_identities in zip(embeddings, identities):
        for e, identity in zip(image_embeddings.numpy(), image_identities):
            if identity < 0:
                continue
            logits = weight @ (scale * e / np.linalg.norm(e)) + bias  # the FC layer
            p = np.exp(logits) / np.exp(logits).sum()
            y = np.eye(num_identities)[identity]  # one-hot Y^i
            terms.append(-(y * np.log(p)).sum())
    assert value == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_id_loss_without_identities_is_zero_with_a_graph():
    loss = CrossEntropyIDLoss(embed_dim=4, num_identities=10)
    value = loss([torch.randn(2, 4, requires_grad=True)], targets([-1, -1]), None, [{}])["loss_id"]
    assert value.item() == 0.0 and value.requires_grad
    with pytest.raises(ValueError, match="no track ids"):
        CrossEntropyIDLoss(embed_dim=4, num_identities=0)


def test_embedding_scale_of_fairmot():
    assert embedding_scale(538) == pytest.approx(math.sqrt(2) * math.log(537))


def test_uncertainty_weighting_values_and_gradients():
    balance = UncertaintyWeighting(det_log_var=-1.85, id_log_var=-1.05)
    terms = balance(torch.tensor(2.0), torch.tensor(3.0))
    total = sum(terms.values())
    expected = 0.5 * (math.exp(1.85) * 2.0 + math.exp(1.05) * 3.0 - 1.85 - 1.05)
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    # dL/ds = 1/2 (1 - exp(-s) L): the variance grows while the task loss is large
    assert balance.det_log_var.grad.item() == pytest.approx(0.5 * (1 - math.exp(1.85) * 2.0), rel=1e-6)
    assert balance.id_log_var.grad.item() == pytest.approx(0.5 * (1 - math.exp(1.05) * 3.0), rel=1e-6)


def test_identity_count_without_registered_training_data_is_a_clear_error():
    cfg = add_mot_config(get_cfg())
    cfg.DATASETS.TRAIN = ("no_such_training_set",)
    with pytest.raises(ValueError, match="set MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES"):
        CrossEntropyIDLoss(cfg, 8)
    cfg.MODEL.ONE_SHOT.ID_LOSS.NUM_IDENTITIES = 7
    assert CrossEntropyIDLoss(cfg, 8).classifier.out_features == 7


def test_cross_entropy_id_loss_needs_identities_from_the_mapper():
    loss = CrossEntropyIDLoss(embed_dim=2, num_identities=3)
    with pytest.raises(ValueError, match="IdentityMapper"):
        loss([torch.zeros(1, 2)], [Instances((8, 8))], None, [{}])
