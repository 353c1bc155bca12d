"""OUTrack's unsupervised ReID loss (Liu et al., Neurocomputing 2022, Sec. 3.1, Eq. 1-8).

No track id is read: the loss learns from frame pairs alone. For the N = N1 + N2 objects
of two frames of one video (or two augmentations of one image), the cosine similarity
matrix S has a -inf diagonal (Eq. 1); a placeholder column lets an object match nothing;
a row-wise softmax at the adaptive temperature T = 2 log(C + 1) gives the assignment
matrix M (Eq. 2). Three terms push M towards a one-to-one matching across the frames: no
mass on objects of the same frame (intra, Eq. 3), one clear winner among the other
frame's objects and the placeholder (inter margin, Eq. 4), and M_ij = M_ji across the
frames (cycle, Eq. 5); their sum is divided by N (Eq. 6). Two images of different videos (negative pairs) share no identity: every
object should go to the placeholder (Eq. 7); Eq. 8 weights the positive and negative
losses by their shares N_pos : N_neg = 1 : r.

Our choices, where the paper is silent: the placeholder value (the mean of S's
off-diagonal entries, the "dynamic mean") is detached, as a data-dependent threshold; it
is 0 when S has no off-diagonal entry (N = 1); the negative pairs of a batch are its first
frames paired cyclically (pair k with pair k + 1), leaving out those from the same video,
and weighted as r negatives per positive (Eq. 8) rather than sampled at that ratio; they
are used on video data too (Sec. 3.1.2 introduces them for image data). The option
``cycle="round_trip"`` replaces Eq. 5 by the off-diagonal mass of going to the other frame
and back (ours).
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.structures import ImageList, Instances
from torch import nn

from ...errors import InputError
from .id_losses import ID_LOSS_REGISTRY

PLACEHOLDERS = ("mean", "zero", "none")


def adaptive_temperature(columns: int) -> float:
    """Eq. 2, OUTrack: T = 2 log(C + 1), C the columns of S' (the placeholder included)."""
    return 2.0 * math.log(columns + 1)


def similarity_matrix(features: torch.Tensor) -> torch.Tensor:
    """Eq. 1, OUTrack: S_ij = cos(f_i, f_j) for the (N, D) stacked features, S_ii = -inf."""
    unit = F.normalize(features.float(), dim=1)
    eye = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    return (unit @ unit.t()).masked_fill(eye, float("-inf"))


def association_matrix(features: torch.Tensor, placeholder: str = "mean") -> torch.Tensor:
    """Eq. 1-2, OUTrack: M = softmax_row(T * S'), S' = S with the placeholder column
    appended ("mean": the mean of S's off-diagonal entries, "zero", or "none"): (N, C)."""
    if placeholder not in PLACEHOLDERS:
        raise ValueError(f"placeholder must be one of {PLACEHOLDERS}, got {placeholder!r}")
    sim = similarity_matrix(features)
    n = len(sim)
    if placeholder == "mean":
        off_diagonal = sim[~torch.eye(n, dtype=torch.bool, device=sim.device)]
        # the dynamic mean is a data-dependent threshold: detached (our choice; the paper is silent)
        value = off_diagonal.mean().detach() if len(off_diagonal) else sim.new_zeros(())
        sim = torch.cat([sim, value.expand(n, 1)], dim=1)
    elif placeholder == "zero":
        sim = torch.cat([sim, sim.new_zeros(n, 1)], dim=1)
    if sim.shape[1] == 1:  # one object and no placeholder: a row with no candidate at all
        return torch.zeros_like(sim)
    return torch.softmax(adaptive_temperature(sim.shape[1]) * sim, dim=1)  # -inf diagonal -> probability 0


def intra_frame_term(assoc: torch.Tensor, n1: int) -> torch.Tensor:
    """Eq. 3, OUTrack: the sum of M_ij over i < j < N1 (frame t-1) and N1 <= i < j < N (frame t)."""
    n = len(assoc)
    return assoc[:n1, :n1].triu(1).sum() + assoc[n1:, n1:n].triu(1).sum()


def inter_frame_term(assoc: torch.Tensor, n1: int, margin: float = 0.5) -> torch.Tensor:
    """Eq. 4, OUTrack: the sum over rows of max(0, v2 + m - v1), v1 >= v2 the two largest
    entries of the row among the other frame's objects and the placeholder (v2 = 0 with one
    candidate; a row with none gives no term)."""
    n = len(assoc)
    extra = assoc[:, n:]  # the placeholder column, if any
    candidates = [torch.cat([assoc[:n1, n1:n], extra[:n1]], 1), torch.cat([assoc[n1:, :n1], extra[n1:]], 1)]
    total = assoc.new_zeros(())
    for probs in candidates:
        if probs.shape[1] == 0:
            continue
        # a zero column makes v2 = 0 for a single candidate and changes nothing otherwise (M >= 0)
        top = F.pad(probs, (0, 1)).topk(2, dim=1).values
        total = total + F.relu(top[:, 1] + margin - top[:, 0]).sum()
    return total


def cycle_term(assoc: torch.Tensor, n1: int) -> torch.Tensor:
    """Eq. 5, OUTrack: the sum of |M_ij - M_ji| over i in frame t and j in frame t-1."""
    n = len(assoc)
    return (assoc[n1:n, :n1] - assoc[:n1, n1:n].t()).abs().sum()


def round_trip_term(assoc: torch.Tensor, n1: int) -> torch.Tensor:
    """Ours, in place of Eq. 5: the off-diagonal mass of A B and B A, A = M[frame t-1,
    frame t] and B = M[frame t, frame t-1]: going to the other frame and back returns to
    the same object. Mass on the placeholder is not penalised."""
    n = len(assoc)
    a, b = assoc[:n1, n1:n], assoc[n1:, :n1]
    return sum(m.sum() - m.diagonal().sum() for m in (a @ b, b @ a))


CYCLE_FUNCTIONS = {"difference": cycle_term, "round_trip": round_trip_term}


def positive_pair_losses(f1: torch.Tensor, f2: torch.Tensor, placeholder: str = "mean", margin: float = 0.5,
                         cycle: str = "difference") -> Dict[str, torch.Tensor]:
    """Eq. 6, OUTrack: the intra, inter and cycle terms of a positive pair, each over N."""
    n1, n = len(f1), len(f1) + len(f2)
    assoc = association_matrix(torch.cat([f1, f2]), placeholder)
    return {"intra": intra_frame_term(assoc, n1) / n, "inter": inter_frame_term(assoc, n1, margin) / n,
            "cycle": CYCLE_FUNCTIONS[cycle](assoc, n1) / n}


def negative_term(assoc: torch.Tensor) -> torch.Tensor:
    """Eq. 7, OUTrack: the sum of M'_ij over 0 <= i, j < N, every column but the placeholder
    (the last): two images that share no identity send every object to the placeholder."""
    return assoc[:, :len(assoc)].sum()


def negative_pair_loss(f1: torch.Tensor, f2: torch.Tensor, placeholder: str = "mean") -> torch.Tensor:
    """Eq. 7, OUTrack, over N: the negative-pair loss of two images' features."""
    if placeholder == "none":
        raise ValueError("negative pairs need a placeholder column (placeholder 'none' has none)")
    return negative_term(association_matrix(torch.cat([f1, f2]), placeholder)) / (len(f1) + len(f2))


def negative_pairs(inputs: Sequence[dict]) -> List[tuple]:
    """Image indices (2k, 2((k + 1) mod K)) of the first frames of K pairs (only k = 0
    when K = 2, none when K < 2), leaving out those of one video (or, without a video
    id, of one file)."""
    count = len(inputs) // 2
    pairs = []
    for k in range(count) if count > 2 else range(1) if count == 2 else ():
        i, j = 2 * k, 2 * ((k + 1) % count)
        a, b = inputs[i], inputs[j]
        if a.get("video_id") is not None and b.get("video_id") is not None:
            same = a["video_id"] == b["video_id"]
        else:
            same = a.get("file_name") == b.get("file_name")
        if not same:
            pairs.append((i, j))
    return pairs


@ID_LOSS_REGISTRY.register()
class UnsupervisedIDLoss(nn.Module):
    """OUTrack's unsupervised ReID loss (Eq. 1-8) on a batch of frame pairs flattened as
    [first_0, second_0, first_1, second_1, ...]; reads no track id."""

    @configurable
    def __init__(self, *, placeholder: str = "mean", margin: float = 0.5, negative_ratio: float = 0.25,
                 cycle: str = "difference"):
        super().__init__()
        if placeholder not in PLACEHOLDERS:
            raise InputError(f"MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.PLACEHOLDER must be one of {PLACEHOLDERS}, "
                             f"got {placeholder!r}")
        if cycle not in CYCLE_FUNCTIONS:
            raise InputError(f"MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED.CYCLE must be one of {tuple(CYCLE_FUNCTIONS)}, "
                             f"got {cycle!r}")
        if negative_ratio < 0 or margin < 0:
            raise InputError(f"MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED: MARGIN ({margin}) and NEGATIVE_RATIO "
                             f"({negative_ratio}) must be >= 0")
        if placeholder == "none" and negative_ratio > 0:
            raise InputError("MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED: negative pairs (NEGATIVE_RATIO > 0) need a "
                             "placeholder column: set PLACEHOLDER to 'mean' or 'zero', or NEGATIVE_RATIO to 0")
        self.placeholder, self.margin, self.negative_ratio, self.cycle = placeholder, margin, negative_ratio, cycle

    @classmethod
    def from_config(cls, cfg, embed_dim: int):
        unsupervised = cfg.MODEL.ONE_SHOT.ID_LOSS.UNSUPERVISED
        return {"placeholder": unsupervised.PLACEHOLDER, "margin": unsupervised.MARGIN,
                "negative_ratio": unsupervised.NEGATIVE_RATIO, "cycle": unsupervised.CYCLE}

    def forward(self, embeddings: List[torch.Tensor], targets: List[Instances], images: Optional[ImageList],
                inputs: List[dict]) -> Dict[str, torch.Tensor]:
        if (len(inputs) % 2 or not inputs or len(embeddings) != len(inputs)
                or any("pair" not in inputs[i] for i in range(0, len(inputs), 2))):
            raise InputError(
                f"UnsupervisedIDLoss needs frame pairs: set INPUT.TRAIN_MAPPER to \"VideoPairMapper\" (got "
                f"{len(inputs)} inputs for {len(embeddings)} images, expected [first_0, second_0, ...] with "
                "a 'pair' key in every first frame)")
        zero = sum(e.sum() for e in embeddings) * 0.0  # keeps the graph when no pair has objects
        terms = {"intra": [], "inter": [], "cycle": []}
        for k in range(0, len(embeddings), 2):
            if len(embeddings[k]) + len(embeddings[k + 1]):  # a pair without objects contributes nothing
                for name, value in positive_pair_losses(embeddings[k], embeddings[k + 1], self.placeholder,
                                                        self.margin, self.cycle).items():
                    terms[name].append(value)
        negatives = []
        if self.negative_ratio > 0:
            negatives = [negative_pair_loss(embeddings[i], embeddings[j], self.placeholder)
                         for i, j in negative_pairs(inputs) if len(embeddings[i]) + len(embeddings[j])]
        # Eq. 8, OUTrack: N_pos / (N_pos + N_neg) L_pos + N_neg / (N_pos + N_neg) L_neg, with
        # N_neg / N_pos = r where the batch has both kinds (a share of 0 for a kind it lacks)
        n_pos, n_neg = float(bool(terms["intra"])), self.negative_ratio * bool(negatives)
        share = n_pos + n_neg or 1.0
        losses = {f"loss_id_{name}": n_pos / share * torch.stack(v).mean() + zero if v else zero
                  for name, v in terms.items()}
        losses["loss_id_negative"] = n_neg / share * torch.stack(negatives).mean() + zero if negatives else zero
        return losses
