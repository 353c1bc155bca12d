"""Person ReID retrieval as a Detectron2 evaluator: ``TEST.EVALUATOR "retrieval"``.

One test dataset holds the query and the gallery crops, told apart by each dict's
``split`` (``market1501_test``, or crops of held-out videos registered by
``register_mot_crops(..., query_gallery=True)``); Detectron2 evaluates each test dataset
on its own, so the two halves must be one dataset. Each crop's ``embedding`` (the model
output, e.g. ``ReIDBaseline``) is ranked by cosine distance (Luo et al. rank by Euclidean
distance of L2-normalised features: the same order); rank-1/5/10 and mAP follow the
Market-1501 protocol of :func:`retrieval_metrics`: gallery crops of the query's person
and camera are left out. Results are in percent under the key ``"retrieval"`` (the
tracklet evaluator's key is ``"reid"``).
"""
import itertools
import json
import logging
import os
from collections import Counter, OrderedDict
from typing import Optional

import numpy as np
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from trackers.costs import cosine_distance

from .reid_metrics import retrieval_metrics

logger = logging.getLogger(__name__)
_FIELDS = ("split", "person_id", "camera_id")


class ReIDRetrievalEvaluator(DatasetEvaluator):
    """Rank-1/5/10 and mAP of a query + gallery dataset (see the module docstring)."""

    def __init__(self, dataset_name: str, output_dir: Optional[str] = None):
        self.dataset_name, self.output_dir = dataset_name, output_dir
        splits = Counter(r.get("split") for r in DatasetCatalog.get(dataset_name))
        if set(splits) != {"query", "gallery"}:
            raise ValueError(f"{dataset_name}: TEST.EVALUATOR 'retrieval' needs crops whose 'split' is 'query' or "
                             f"'gallery', both present (e.g. market1501_test); got {dict(splits)}")
        self._num_crops = sum(splits.values())

    def reset(self) -> None:
        self._rows = []  # (split, person, camera, embedding) per crop

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            if "embedding" not in out:
                raise ValueError(f"TEST.EVALUATOR 'retrieval' needs a model whose outputs carry 'embedding' "
                                 f"(e.g. ReIDBaseline); got {sorted(out)}")
            missing = [k for k in _FIELDS if k not in inp]
            if missing:
                raise ValueError(f"{self.dataset_name}: input {inp.get('file_name', '?')} lacks {missing}; "
                                 "use ReIDMapper (the test loader of ReID datasets)")
            self._rows.append((*(inp[k] for k in _FIELDS), out["embedding"].detach().float().cpu().numpy()))

    def evaluate(self):
        rows = list(itertools.chain(*comm.gather(self._rows, dst=0)))
        if not comm.is_main_process():
            return {}
        if len(rows) != self._num_crops:
            raise ValueError(f"{self.dataset_name}: {len(rows)} model outputs for {self._num_crops} crops")
        split, person, camera = (np.array([r[i] for r in rows]) for i in range(3))
        embeddings = np.stack([r[3] for r in rows])
        query, gallery = split == "query", split == "gallery"
        metrics = retrieval_metrics(cosine_distance(embeddings[query], embeddings[gallery]), person[query],
                                    person[gallery], camera[query], camera[gallery], max_rank=10)
        result = {k: 100.0 * metrics[k] for k in ("rank1", "rank5", "rank10", "mAP")}
        result.update(queries=int(query.sum()), gallery=int(gallery.sum()), valid_queries=metrics["num_valid_queries"])
        logger.info("%s retrieval: rank-1 %.1f, rank-5 %.1f, mAP %.1f (%d queries, %d with a match; %d gallery)",
                    self.dataset_name, result["rank1"], result["rank5"], result["mAP"], result["queries"],
                    result["valid_queries"], result["gallery"])
        if self.output_dir:
            os.makedirs(self.output_dir, exist_ok=True)
            with open(os.path.join(self.output_dir, "retrieval_metrics.json"), "w") as f:
                json.dump(dict(result, cmc=(100.0 * metrics["cmc"]).tolist()), f, indent=1)
        return OrderedDict(retrieval=result)
