"""Result files other than ``mot track``'s: plots and an evaluation's metrics.json record
are complete or not written; an interrupted write leaves the earlier file as it was."""
import json
import os

import pytest
from detectron2.utils.events import JSONWriter
from matplotlib.figure import Figure

from mot_heads.cli.main import main
from mot_heads.engine import record_evaluation


def _run_dir(tmp_path):
    """A training run's OUTPUT_DIR with a metrics.json of three records."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    records = [{"iteration": i, "total_loss": 1.0 / (i + 1), "lr": 0.01} for i in (19, 39, 59)]
    (run_dir / "metrics.json").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def test_ctrl_c_while_a_plot_is_saved_keeps_the_earlier_plot(tmp_path, monkeypatch):
    run_dir = _run_dir(tmp_path)
    assert main(["plot", str(run_dir)]) == 0
    plots = run_dir / "plots"
    earlier = {name: (plots / name).read_bytes() for name in os.listdir(plots)}

    def half_then_ctrl_c(figure, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        main(["plot", str(run_dir)])
    assert {name: (plots / name).read_bytes() for name in os.listdir(plots)} == earlier


def test_ctrl_c_while_an_evaluation_is_recorded_leaves_no_half_line(tmp_path, monkeypatch):
    run_dir = _run_dir(tmp_path)
    earlier = (run_dir / "metrics.json").read_text()

    def half_then_ctrl_c(writer):
        writer._file_handle.write('{"iteration": 0, "tracking/HO')
        writer._file_handle.flush()
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(JSONWriter, "write", half_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            record_evaluation(str(run_dir), {"tracking": {"HOTA": 50.0}})
    assert (run_dir / "metrics.json").read_text() == earlier
    assert sorted(os.listdir(run_dir)) == ["metrics.json"]
    record_evaluation(str(run_dir), {"tracking": {"HOTA": 50.0}})
    lines = (run_dir / "metrics.json").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1]) == {"iteration": 0, "tracking/HOTA": 50.0}
