"""Weights and training state load without running code from the file: a checkpoint
carrying a payload is refused before the payload runs, on every path that loads weights
(``mot track``, ``mot train`` with MODEL.WEIGHTS or ``--resume``, ``mot evaluate``, KDMOT's
teacher); corrupt or non-finite weights end with one sentence naming the file; the
project's own checkpoints still resume."""
import os
import pathlib
import pickle
import random

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from mot_heads.cli.common import load_config
from mot_heads.cli.main import main
from mot_heads.data import register_synthetic
from mot_heads.engine import MOTTrainer
from mot_heads.engine.checkpoint import CheckedCheckpointer

from ..cli.test_train_command import CONFIG, CONFIGS, FAST, run_quietly

KDMOT = os.path.join(CONFIGS, "kdmot_R18_FPN_GN_synthetic.yaml")
TEACHER_CONFIG = os.path.join(CONFIGS, "reid_R18_synthetic.yaml")
TEACHER_KEY = "MODEL.ONE_SHOT.ID_LOSS.DISTILLATION.TEACHER_WEIGHTS"


class Payload:
    """Unpickling it creates the file ``marker`` (a malicious checkpoint runs any code it likes)."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def datasets(synthetic_root):
    train, val = register_synthetic(synthetic_root, prefix="safeload")
    return ["DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{val}',)"]


@pytest.fixture(scope="module")
def sequence(synthetic_root):
    return os.path.join(synthetic_root, "val", "synth-val-00")


def untrained_state(config):
    """The state dict of an untrained model of ``config`` (a real checkpoint's content)."""
    torch.manual_seed(0)
    return build_model(load_config(config, ["MODEL.DEVICE", "cpu"])).state_dict()


@pytest.fixture(scope="module")
def detector_state():
    return untrained_state(CONFIG)


@pytest.fixture(scope="module")
def teacher_state():
    return untrained_state(TEACHER_CONFIG)


def refusal(argv, capsys) -> str:
    """The one stderr line of ``mot ARGV``, which must end with exit status 2."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---------------------------------------------------------------- where weights are loaded
# Each: the command line that loads the weights file ``path`` (see _weights_path) on one path.

def _track(tmp_path, path, sequence, datasets):
    return ["track", "--config-file", CONFIG, "--input", sequence, "--output", str(tmp_path / "tracks"), "--no-video",
            "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", str(path)]


def _train(tmp_path, path, sequence, datasets):
    return ["train", "--config-file", CONFIG, *datasets, *FAST, "SOLVER.MAX_ITER", "1",
            "OUTPUT_DIR", str(tmp_path / "run"), "MODEL.WEIGHTS", str(path)]


def _resume(tmp_path, path, sequence, datasets):
    """``--resume`` from OUTPUT_DIR, whose last_checkpoint names ``path`` (inside it)."""
    (path.parent / "last_checkpoint").write_text(path.name)
    return ["train", "--config-file", CONFIG, "--resume", *datasets, *FAST, "SOLVER.MAX_ITER", "1",
            "OUTPUT_DIR", str(path.parent)]


def _evaluate(tmp_path, path, sequence, datasets):
    return ["evaluate", "--config-file", CONFIG, *datasets, *FAST, "OUTPUT_DIR", str(tmp_path / "run"),
            "MODEL.WEIGHTS", str(path)]


def _teacher(tmp_path, path, sequence, datasets):
    return ["train", "--config-file", KDMOT, *datasets, *FAST, "SOLVER.MAX_ITER", "1",
            "OUTPUT_DIR", str(tmp_path / "run"), TEACHER_KEY, str(path)]


ENTRIES = [_track, _train, _resume, _evaluate, _teacher]


def _weights_path(tmp_path, suffix=".pth"):
    """Where a test writes its weights file (a folder of its own: OUTPUT_DIR for _resume)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    return folder / f"model_final{suffix}"


def _state(entry, detector_state, teacher_state):
    return teacher_state if entry is _teacher else detector_state


# ---------------------------------------------------------------- payloads

@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.__name__.strip("_"))
def test_pth_payload_is_refused_before_it_runs(entry, tmp_path, sequence, datasets, detector_state, teacher_state,
                                               capsys):
    marker = tmp_path / "payload_ran"
    path = _weights_path(tmp_path)
    torch.save({"model": _state(entry, detector_state, teacher_state), "extra": Payload(marker)}, path)
    message = refusal(entry(tmp_path, path, sequence, datasets), capsys)
    assert f"{path}: cannot load it as weights" in message and "getattr" in message  # the refused global
    assert not marker.exists()


@pytest.mark.parametrize("entry", [_track, _train], ids=lambda e: e.__name__.strip("_"))
def test_pkl_payload_is_refused_before_it_runs(entry, tmp_path, sequence, datasets, detector_state, capsys):
    marker = tmp_path / "payload_ran"
    path = _weights_path(tmp_path, ".pkl")
    arrays = {name: value.numpy() for name, value in detector_state.items()}
    with open(path, "wb") as f:
        pickle.dump({"model": arrays, "__author__": "someone", "extra": Payload(marker)}, f)
    message = refusal(entry(tmp_path, path, sequence, datasets), capsys)
    assert f"{path}: cannot load it as weights" in message and "pathlib.Path.touch" in message
    assert not marker.exists()


def test_pyth_payload_is_refused_before_it_runs(tmp_path, sequence, datasets, detector_state, capsys):
    marker = tmp_path / "payload_ran"
    path = _weights_path(tmp_path, ".pyth")
    torch.save({"model_state": detector_state, "extra": Payload(marker)}, path)
    message = refusal(_track(tmp_path, path, sequence, datasets), capsys)
    assert f"{path}: cannot load it as weights" in message and "getattr" in message
    assert not marker.exists()


# ---------------------------------------------------------------- last_checkpoint

def _outside_by_absolute_path(output_dir, elsewhere):
    return str(elsewhere)


def _outside_by_dot_dot(output_dir, elsewhere):
    return os.path.relpath(elsewhere, output_dir)


def _outside_by_symlink(output_dir, elsewhere):
    os.symlink(elsewhere, output_dir / "model_final.pth")
    return "model_final.pth"


@pytest.mark.parametrize("names", [_outside_by_absolute_path, _outside_by_dot_dot, _outside_by_symlink],
                         ids=lambda n: n.__name__.strip("_"))
def test_last_checkpoint_must_name_a_file_inside_output_dir(names, tmp_path, datasets, detector_state, capsys):
    elsewhere = tmp_path / "elsewhere" / "model.pth"
    elsewhere.parent.mkdir()
    torch.save({"model": detector_state}, elsewhere)  # a valid checkpoint, but not this run's
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    (output_dir / "last_checkpoint").write_text(names(output_dir, elsewhere))
    message = refusal(["train", "--config-file", CONFIG, "--resume", *datasets, *FAST, "SOLVER.MAX_ITER", "1",
                       "OUTPUT_DIR", str(output_dir)], capsys)
    assert f"{output_dir / 'last_checkpoint'} names {elsewhere}, outside OUTPUT_DIR" in message


# ---------------------------------------------------------------- corrupt and non-finite weights
# Each: writes a broken checkpoint (made from ``state``, a real model's) to ``path``;
# returns what the error says.

def _truncated(path, state):
    torch.save({"model": state}, path)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    return "cannot load it as weights (RuntimeError: PytorchStreamReader failed reading zip archive"


def _random_bytes(path, state):
    path.write_bytes(random.Random(0).randbytes(4096))
    return "cannot load it as weights"


def _empty(path, state):
    path.write_bytes(b"")
    return "the weights file is empty"


def _text(path, state):
    path.write_text("model: weights\n")
    return "cannot load it as weights"


def _pickled_list(path, state):
    torch.save(list(state.values()), path)
    return "expected a checkpoint (a dict of weights), got a list"


def _model_not_tensors(path, state):
    torch.save({"model": {name: "weights" for name in state}}, path)
    return "is a str, expected a tensor or a numeric array"


def _nan(path, state):
    name = next(name for name, value in state.items() if value.is_floating_point())
    torch.save({"model": {**state, name: torch.full_like(state[name], float("nan"))}}, path)
    return f"NaN or infinite values in 1 of its {len(state)} tensors (e.g. {name})"


def _inf(path, state):
    name = [name for name, value in state.items() if value.is_floating_point()][-1]
    broken = state[name].clone()
    broken.view(-1)[0] = float("inf")
    torch.save({"model": {**state, name: broken}}, path)
    return f"NaN or infinite values in 1 of its {len(state)} tensors (e.g. {name})"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.__name__.strip("_"))
@pytest.mark.parametrize("breaks", [_truncated, _random_bytes, _empty, _text, _pickled_list, _model_not_tensors,
                                    _nan, _inf], ids=lambda b: b.__name__.strip("_"))
def test_broken_weights_one_sentence_naming_the_file(breaks, entry, tmp_path, sequence, datasets, detector_state,
                                                     teacher_state, capsys):
    path = _weights_path(tmp_path)
    expected = breaks(path, _state(entry, detector_state, teacher_state))
    message = refusal(entry(tmp_path, path, sequence, datasets), capsys)
    assert message.startswith(f"error: {path}: ") and expected in message, message


def _pkl_truncated(path, state):
    with open(path, "wb") as f:
        pickle.dump({"model": {name: value.numpy() for name, value in state.items()}}, f)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    return "cannot load it as weights"


def _pkl_list(path, state):
    with open(path, "wb") as f:
        pickle.dump([value.numpy() for value in state.values()], f)
    return "expected a checkpoint (a dict of weights), got a list"


def _pkl_object_array(path, state):
    with open(path, "wb") as f:
        pickle.dump({"model": {name: np.array([None]) for name in state}, "__author__": "someone"}, f)
    return "is a numpy array of object, expected a tensor or a numeric array"


def _torchscript(path, state):
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)  # torch.load would run its code
    return "cannot load it as weights (ValueError: a TorchScript archive, whose code would run on loading)"


def _names_not_strings(path, state):
    torch.save({"model": dict(enumerate(state.values()))}, path)
    return "0 is no parameter name: expected names (strings) mapped to tensors"


@pytest.mark.parametrize("suffix, breaks", [(".pkl", _pkl_truncated), (".pkl", _pkl_list), (".pkl", _pkl_object_array),
                                            (".pth", _torchscript), (".pth", _names_not_strings)],
                         ids=["pkl_truncated", "pkl_list", "pkl_object_array", "torchscript", "names_not_strings"])
def test_more_broken_weights_one_sentence_naming_the_file(suffix, breaks, tmp_path, sequence, datasets,
                                                          detector_state, capsys):
    path = _weights_path(tmp_path, suffix)
    expected = breaks(path, detector_state)
    message = refusal(_track(tmp_path, path, sequence, datasets), capsys)
    assert message.startswith(f"error: {path}: ") and expected in message, message


# ---------------------------------------------------------------- what still loads

def _loaded_state(path):
    model = build_model(load_config(CONFIG, ["MODEL.DEVICE", "cpu"]))
    CheckedCheckpointer(model, require_all=True).load(str(path))
    return model.state_dict()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_detectron2_pkl_of_numpy_arrays_loads(protocol, tmp_path, detector_state):
    path = tmp_path / "model.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {name: value.numpy() for name, value in detector_state.items()},
                     "__author__": "someone"}, f, protocol=protocol)
    loaded = _loaded_state(path)
    assert all(torch.equal(loaded[name], value) for name, value in detector_state.items())


def test_caffe2_pkl_blobs_load_without_their_momentum(tmp_path, detector_state):
    # Caffe2 names of the first conv of the first res2 block and its norm (Detectron2 converts them).
    c2_names = {"res2_0_branch2a_w": "conv1.weight", "res2_0_branch2a_bn_s": "conv1.norm.weight",
                "res2_0_branch2a_bn_b": "conv1.norm.bias"}
    blobs = {c2: np.full(detector_state[f"backbone.bottom_up.res2.0.{name}"].shape, 0.5, np.float32)
             for c2, name in c2_names.items()}
    momentum = {f"{c2}_momentum": 0.9 for c2 in c2_names}  # not weights: dropped as Detectron2 does
    path = tmp_path / "model.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {**blobs, **momentum}}, f, protocol=2)
    model = build_model(load_config(CONFIG, ["MODEL.DEVICE", "cpu"]))
    CheckedCheckpointer(model).load(str(path))  # as training starts from ImageNet weights: only part
    for name in c2_names.values():
        assert torch.all(model.state_dict()[f"backbone.bottom_up.res2.0.{name}"] == 0.5), name


def test_pycls_pyth_loads(tmp_path, detector_state):
    path = tmp_path / "model.pyth"
    torch.save({"model_state": detector_state, "epoch": 3}, path)
    loaded = _loaded_state(path)
    assert all(torch.equal(loaded[name], value) for name, value in detector_state.items())


@pytest.mark.slow
def test_resume_continues_the_iteration_and_restores_the_optimizer(tmp_path, datasets):
    opts = [*datasets, *FAST, "DATASETS.TEST", "()", "SOLVER.IMS_PER_BATCH", "2", "OUTPUT_DIR", str(tmp_path)]
    assert run_quietly(["train", "--config-file", CONFIG, *opts, "SOLVER.MAX_ITER", "2"])[0] == 0
    saved = torch.load(tmp_path / "model_final.pth", map_location="cpu", weights_only=True)  # safely loadable
    trainer = MOTTrainer(load_config(CONFIG, [*opts, "SOLVER.MAX_ITER", "4"]))
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 2
    momentum = {key: state["momentum_buffer"] for key, state in trainer.optimizer.state_dict()["state"].items()}
    saved_momentum = saved["trainer"]["_trainer"]["optimizer"]["state"]
    assert momentum and all(torch.equal(value, saved_momentum[key]["momentum_buffer"])
                            for key, value in momentum.items())
    assert run_quietly(["train", "--config-file", CONFIG, "--resume", *opts, "SOLVER.MAX_ITER", "4"])[0] == 0
    assert torch.load(tmp_path / "model_final.pth", map_location="cpu", weights_only=True)["iteration"] == 3
