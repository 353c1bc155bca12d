"""Dry runs of the paper recipes: one stage of a recipe trained by ``mot train`` for two
iterations on CPU, on fixture data in its real format, at a tiny input size given by the
caller; the next stage starts from the checkpoint it writes."""
import os
import subprocess
import sys
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Two CPU iterations of two samples, no evaluation, no data-loading workers: the chain runs.
DRY_RUN_OPTIONS = (
    "MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "2",
    "SOLVER.MAX_ITER", "2", "SOLVER.CHECKPOINT_PERIOD", "100000", "TEST.EVAL_PERIOD", "0",
)
STDERR_TAIL = 4000  # characters of a failed run's stderr in the assertion message
# An epoch schedule converted on the fixtures (two epochs, a step after the first), no test set.
TWO_EPOCHS = ("SOLVER.EPOCHS", "2.0", "SOLVER.STEP_EPOCHS", "(1.0,)", "DATASETS.TEST", "()")
# A one-shot stage (CenterNet heads at stride 4) on 64-pixel inputs.
TINY_ONE_SHOT = ("INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", *TWO_EPOCHS)


def run_stage(config: str, output_dir: str, datasets_root: str, *options: str,
              weights: Optional[str] = None) -> str:
    """Train the recipe stage ``config`` (relative to the repository) in ``output_dir``
    with ``DETECTRON2_DATASETS=datasets_root``, starting from ``weights`` (``MODEL.WEIGHTS``
    of the config when None, e.g. "" for no initial weights); ``options`` come last and
    override the dry-run ones. Returns the path of the stage's ``model_final.pth``."""
    starting = () if weights is None else ("MODEL.WEIGHTS", weights)
    command = [sys.executable, "-m", "mot_heads.cli.main", "train", "--config-file", os.path.join(REPO, config),
               "OUTPUT_DIR", str(output_dir), *starting, *DRY_RUN_OPTIONS, *options]
    env = dict(os.environ, DETECTRON2_DATASETS=str(datasets_root), OMP_NUM_THREADS="1")
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{config}: exit {result.returncode}\n{result.stderr[-STDERR_TAIL:]}"
    final = os.path.join(str(output_dir), "model_final.pth")
    assert os.path.isfile(final), f"{config}: no model_final.pth in {output_dir}"
    return final
