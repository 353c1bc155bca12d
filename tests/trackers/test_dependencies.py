"""trackers/ loads none of the model stack: it runs where only numpy, scipy and lap are installed."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODEL_STACK = ("torch", "torchvision", "detectron2", "cv2", "mot_heads")

IMPORT_ALL = f"""
import importlib, pkgutil, sys
import trackers
for module in pkgutil.iter_modules(trackers.__path__):
    importlib.import_module("trackers." + module.name)
print(" ".join(name for name in {MODEL_STACK!r} if name in sys.modules))
"""


def test_importing_every_tracker_module_loads_no_model_stack():
    # a fresh interpreter: in the full test run other tests have imported torch already
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
