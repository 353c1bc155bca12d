"""``mot plot`` through the ``mot`` dispatcher."""
import json

import pytest

from mot_heads.cli.main import main


def test_plot_writes_and_prints_the_pngs(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    records = [{"iteration": i, "total_loss": 1.0 / (i + 1), "loss_cls": 0.5 / (i + 1), "lr": 0.01}
               for i in (19, 39, 59)]
    records.append({"iteration": 59, "tracking/HOTA": 50.0, "tracking/IDSW": 4.0})
    (run_dir / "metrics.json").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["plot", str(run_dir)]) == 0
    expected = [str(run_dir / "plots" / name) for name in ("losses.png", "learning_rate.png", "evaluation.png")]
    assert capsys.readouterr().out.splitlines() == expected
    assert all((run_dir / "plots" / name).stat().st_size > 0 for name in ("losses.png", "evaluation.png"))
    out_dir = tmp_path / "figures"
    assert main(["plot", str(run_dir), "--out", str(out_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(out_dir / "losses.png")


def test_plot_missing_run_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "metrics.json" in err[0]
