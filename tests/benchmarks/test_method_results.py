"""benchmarks/method_results.py: the results tables it writes into the method pages
(training itself is `mot train`, tested with the trainer)."""
import json
from pathlib import Path

import pytest

from mot_heads.errors import InputError

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def method_results(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import method_results

    monkeypatch.setattr(method_results, "REPO", str(tmp_path))
    return method_results


def write_metrics(folder, *records):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return str(folder)


def test_the_page_changes_between_its_markers_only(method_results, tmp_path):
    page = tmp_path / "projects" / "DMTrack" / "README.md"
    page.parent.mkdir(parents=True)
    page.write_text(f"# DMTrack\n\n## Results\n\n{method_results.BEGIN}\nold table\n{method_results.END}\n\n## Citing\n")
    run = write_metrics(tmp_path / "run", {"iteration": 0, "time": 1.0}, {"iteration": 9, "time": 1.0},
                        {"iteration": 9, "sot/success_auc": 55.84, "sot/precision_20px": 70.0, "sot/tnr": 100.0})
    method_results.write_page("DMTrack", method_results.section("DMTrack", run, default_iterations=100))
    text = page.read_text()
    assert text.startswith("# DMTrack\n\n## Results\n\n") and text.endswith(f"{method_results.END}\n\n## Citing\n")
    assert "old table" not in text
    row = [line for line in text.splitlines() if line.startswith("| `dmtrack_R18")][0]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:3] == ["55.8", "70.0"] and cells[3] == "-" and cells[-1] == "10", "absent keys print '-'"
    assert "trained 10 iterations" in text
    assert "Regenerate with `python benchmarks/method_results.py --only DMTrack --iterations 10`" in text


def test_mot_rows_are_the_results_table_rows_without_timing(method_results, tmp_path):
    scores = dict(HOTA=50.0, DetA=40.0, AssA=60.0, MOTA=61.0, IDF1=70.0, IDSW=3.0, FP=4.0, FN=5.0)
    run = write_metrics(tmp_path / "run", {"iteration": 0, "time": 2.0},
                        {"iteration": 0, **{f"tracking/{k}": v for k, v in scores.items()}, "bbox/AP50": 90.0})
    table = method_results.mot_table("tiny", run)
    assert table.splitlines()[2] == "| tiny | 50.0 | 40.0 | 60.0 | 61.0 | 70.0 | 3 | 4 | 5 | 90.0 | 1 |", "no timing"


def test_bad_requests_are_input_errors(method_results, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        method_results.main(["--only", "SiamMOT,FairMOT"])
    assert stop.value.code == 2 and "no method named 'FairMOT'" in capsys.readouterr().err
    page = tmp_path / "projects" / "KDMOT" / "README.md"
    page.parent.mkdir(parents=True)
    page.write_text("# KDMOT\n")
    with pytest.raises(InputError, match="no <!-- results:begin -->"):
        method_results.write_page("KDMOT", "table")
    assert page.read_text() == "# KDMOT\n"


def test_every_method_names_an_existing_quick_schedule(method_results):
    configs = BENCHMARKS.parent / method_results.QUICK
    for method in method_results.METHODS.values():
        for stage in method.stages:
            assert (configs / stage.config).is_file(), stage.config
