"""Metric-learning loss of the bag-of-tricks ReID baseline (Luo et al., CVPRW 2019)."""
import torch


def pairwise_euclidean(features: torch.Tensor) -> torch.Tensor:
    """(N, N) Euclidean distances of the rows; clamped before the root so that the
    gradient stays finite at zero distance."""
    squared = features.pow(2).sum(1)
    return (squared[:, None] + squared[None, :] - 2.0 * features @ features.T).clamp(min=1e-12).sqrt()


def batch_hard_triplet_loss(features: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al., 2017; Luo et al., Sec. 2, margin 0.3):
    for each anchor, its farthest positive and nearest negative in the batch,
    ``mean(max(0, d(a, p) - d(a, n) + margin))`` over the anchors that have both,
    with Euclidean distances of the unnormalised features."""
    dist = pairwise_euclidean(features)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    hardest_positive = dist.masked_fill(~positive, float("-inf")).max(1).values
    hardest_negative = dist.masked_fill(same, float("inf")).min(1).values
    valid = positive.any(1) & (~same).any(1)
    if not valid.any():  # no triplet in the batch: a zero that keeps the graph
        return features.sum() * 0.0
    return (hardest_positive[valid] - hardest_negative[valid] + margin).clamp(min=0).mean()
