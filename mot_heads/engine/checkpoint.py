"""Loading weights that refuses a checkpoint of another architecture.

Detectron2's checkpointer loads whatever names match and only logs the rest, so weights
of another model load "successfully" into a model that is still untrained. This one
raises ``ValueError`` instead: for training when no parameter of the model is in the
checkpoint, for inference (``require_all``) when any is missing or has another shape.
"""
from detectron2.checkpoint import DetectionCheckpointer


class CheckedCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that checks what a load matched (see the module doc).

    ``require_all``: every parameter and buffer of the model must be in the checkpoint
    with its shape (inference); otherwise at least one must be (training, where a
    backbone's ImageNet weights legitimately cover only part of the model).
    ``weights_key``: the config key that named the file, for the error message.
    """

    def __init__(self, model, save_dir: str = "", *, require_all: bool = False, weights_key: str = "MODEL.WEIGHTS",
                 **checkpointables):
        super().__init__(model, save_dir, **checkpointables)
        self.require_all, self.weights_key = require_all, weights_key
        self._loading = ""

    def _load_file(self, filename: str):
        self._loading = filename
        return super()._load_file(filename)

    def _log_incompatible_keys(self, incompatible) -> None:
        super()._log_incompatible_keys(incompatible)
        expected = set(self.model.state_dict())
        absent = (set(incompatible.missing_keys) | {key for key, _, _ in incompatible.incorrect_shapes}) & expected
        if absent == expected or (self.require_all and absent):
            examples = ", ".join(sorted(absent)[:3])
            raise ValueError(
                f"{self._loading}: weights of another architecture: {len(absent)} of the model's {len(expected)} "
                f"parameters and buffers are missing or have another shape (e.g. {examples}); {self.weights_key} "
                "must be a checkpoint of the model this config builds"
            )
