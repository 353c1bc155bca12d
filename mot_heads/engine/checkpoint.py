"""Loading weights without running code from the file, and refusing weights that would
load "successfully" but wrongly.

Every file of weights or training state the project reads goes through
:class:`CheckedCheckpointer`:

- No code in the file runs: ``.pth`` files (any name but ``.pkl``) and pycls's ``.pyth``
  load through ``torch.load(weights_only=True)`` (TorchScript archives, whose code
  ``torch.load`` would run, are refused); Detectron2's ``.pkl`` through an
  unpickler that builds only numpy arrays, dtypes and scalars, ``OrderedDict`` and plain
  values (Detectron2's own reading of these formats is kept: its model zoo's
  ``{"model", "__author__"}``, Caffe2's ``blobs`` without ``_momentum``, name matching).
  A file that names anything else, a corrupt or empty file, a checkpoint that is no dict
  of tensors or numeric arrays, and weights holding NaN or infinity raise an
  :class:`InputError` naming the file.
- ``OUTPUT_DIR/last_checkpoint`` (``--resume``) may only name a file inside OUTPUT_DIR.
- Detectron2's checkpointer loads whatever names match and only logs the rest, so weights
  of another model load into a model that stays untrained. This one raises instead: for
  training when no parameter of the model is in the checkpoint, for inference
  (``require_all``) when any is missing or has another shape.
"""
import os
import pickle
import zipfile
from collections.abc import Mapping
from typing import Any, Callable, Dict

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..errors import InputError
from ..files import check_regular_file

# What numpy's pickles of arrays, dtypes and scalars name (numpy 1 and 2, pickle protocols
# 2 to 5), and OrderedDict; a .pkl naming anything else is refused.
_PKL_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"), ("_codecs", "encode"),
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core") for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler of numpy arrays and plain values that refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PKL_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return super().find_class(module, name)


def _unpickle_arrays(path: str) -> Any:
    with open(path, "rb") as f:
        return _ArrayUnpickler(f, encoding="latin1").load()  # latin1: Python 2 pickles (Detectron2's)


def _torch_load_weights(path: str) -> Any:
    if zipfile.is_zipfile(path):  # torch.load hands TorchScript archives to torch.jit.load, which runs their code
        with zipfile.ZipFile(path) as archive:
            if any(os.path.basename(name) == "constants.pkl" for name in archive.namelist()):
                raise ValueError("a TorchScript archive, whose code would run on loading")
    return torch.load(path, map_location="cpu", weights_only=True)


def _a(value: Any) -> str:
    """'a list', 'an int': the type of ``value`` in a sentence."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _reason(error: Exception) -> str:
    """The first line of what ``error`` says (for torch's weights-only refusal, the refused part)."""
    lines = str(error).split("WeightsUnpickler error: ")[-1].strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _read(path: str, load: Callable[[str], Any]) -> Dict[str, Any]:
    """The dict ``load(path)`` returns; anything else, or any failure, is an InputError."""
    check_regular_file(path, "weights file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: the weights file is empty")
    try:
        data = load(path)
    except Exception as e:  # unpickling bad bytes may raise almost any exception (pickle's documentation)
        raise InputError(f"{path}: cannot load it as weights ({_reason(e)}); expected a checkpoint holding only "
                         "tensors, arrays, numbers, strings and containers, as torch.save writes") from e
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: expected a checkpoint (a dict of weights), got {_a(data)}")
    return data


def _mapping(path: str, value: Any, key: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise InputError(f"{path}: {key!r} is {_a(value)}, expected a dict of parameter names to tensors")
    return value


def _read_detectron2_pkl(path: str) -> Dict[str, Any]:
    """Detectron2's reading of a .pkl: a model-zoo file as it is, else Caffe2 / Detectron1
    blobs (under "blobs" for detection models) without their "_momentum" entries."""
    data = _read(path, _unpickle_arrays)
    if "model" in data and "__author__" in data:
        return data
    blobs = _mapping(path, data.get("blobs", data), "blobs")
    weights = {name: value for name, value in blobs.items() if not str(name).endswith("_momentum")}
    return {"model": weights, "__author__": "Caffe2", "matching_heuristics": True}


def _read_pycls_pyth(path: str) -> Dict[str, Any]:
    """Detectron2's reading of a pycls .pyth: "model_state" without "num_batches_tracked"."""
    state = _mapping(path, _read(path, _torch_load_weights).get("model_state"), "model_state")
    weights = {name: value for name, value in state.items() if not str(name).endswith("num_batches_tracked")}
    return {"model": weights, "__author__": "pycls", "matching_heuristics": True}


def _check_weights(path: str, weights: Any) -> None:
    """Raise unless ``weights`` maps names to tensors or numeric arrays that are all finite."""
    non_finite, weights = [], _mapping(path, weights, "model")
    for name, value in weights.items():
        if not isinstance(name, str):
            raise InputError(f"{path}: {name!r} is no parameter name: expected names (strings) mapped to tensors")
        if isinstance(value, torch.Tensor):
            tensor = value
        else:
            try:
                tensor = torch.from_numpy(value)
            except TypeError:  # not a numpy array, or one of objects
                what = f"a numpy array of {value.dtype}" if isinstance(value, np.ndarray) else _a(value)
                raise InputError(f"{path}: {name!r} is {what}, expected a tensor or a numeric array") from None
        if (tensor.is_floating_point() or tensor.is_complex()) and not torch.isfinite(tensor).all():
            non_finite.append(name)
    if non_finite:
        raise InputError(f"{path}: NaN or infinite values in {len(non_finite)} of its {len(weights)} tensors "
                         f"(e.g. {non_finite[0]}): use weights saved before the training diverged")


class CheckedCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that loads safely and checks what a load matched (see the
    module doc).

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

    def get_checkpoint_file(self) -> str:
        """The file ``last_checkpoint`` names, which must lie inside ``save_dir`` once
        symbolic links and ".." are resolved."""
        path = super().get_checkpoint_file()
        folder, resolved = os.path.realpath(self.save_dir), os.path.realpath(path)
        if path and os.path.commonpath([folder, resolved]) != folder:
            raise InputError(f"{os.path.join(self.save_dir, 'last_checkpoint')} names {resolved}, outside OUTPUT_DIR "
                             f"{self.save_dir}: it may only name a checkpoint in that folder")
        return path

    def _load_file(self, filename: str) -> Dict[str, Any]:
        self._loading = filename
        if filename.endswith(".pkl"):
            checkpoint = _read_detectron2_pkl(filename)
        elif filename.endswith(".pyth"):
            checkpoint = _read_pycls_pyth(filename)
        else:
            checkpoint = super()._load_file(filename)  # Detectron2's, reading through _torch_load
        _check_weights(filename, checkpoint["model"])
        return checkpoint

    def _torch_load(self, filename: str) -> Dict[str, Any]:
        return _read(filename, _torch_load_weights)

    def _log_incompatible_keys(self, incompatible) -> None:
        super()._log_incompatible_keys(incompatible)
        expected = set(self.model.state_dict())
        absent = (set(incompatible.missing_keys) | {key for key, _, _ in incompatible.incorrect_shapes}) & expected
        if absent == expected or (self.require_all and absent):
            examples = ", ".join(sorted(absent)[:3])
            raise InputError(
                f"{self._loading}: weights of another architecture: {len(absent)} of the model's {len(expected)} "
                f"parameters and buffers are missing or have another shape (e.g. {examples}); {self.weights_key} "
                "must be a checkpoint of the model this config builds"
            )
