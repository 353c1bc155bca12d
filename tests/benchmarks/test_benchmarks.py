"""The benchmark page and the scripts it runs, at the smallest settings: real runs, real numbers."""
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, cwd=REPO)


def table_rows(stdout: str) -> List[Dict[str, str]]:
    """The rows of the GitHub markdown table a benchmark printed, as {header: cell}."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return [dict(zip(header, row)) for row in rows if not set(row[0]) <= {"-", ":"}]


@pytest.fixture
def results_page(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import results_page

    return results_page


@pytest.mark.slow
def test_inference_speed_times_a_method_at_a_resolution():
    result = run_script("inference_speed.py", "--methods", "jde", "--resolutions", "128x64", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    (row,) = table_rows(result.stdout)
    assert row["method"].startswith("JDE/FairMOT") and row["resolution"] == "128x64"
    assert row["config"] == "oneshot_R18_FPN_GN_synthetic.yaml"
    assert float(row["ms/frame"]) > 0 and float(row["frames/s"]) > 0


@pytest.mark.slow
def test_training_speed_times_iterations_of_the_trainer(synthetic_root):
    result = run_script("training_speed.py", "--methods", "jde", "--iterations", "2", "--warmup", "0",
                        "--data-root", synthetic_root)
    assert result.returncode == 0, result.stderr
    (row,) = table_rows(result.stdout)
    assert row["method"].startswith("JDE/FairMOT") and row["batch (SOLVER.IMS_PER_BATCH)"] == "4 frames"
    assert float(row["s/iter (median)"]) > 0 and row["iterations timed"] == "2"


@pytest.mark.slow
def test_results_page_writes_a_partial_page(tmp_path):
    page = tmp_path / "page.md"
    result = run_script("results_page.py", "--only", "tracker-update", "--output", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert "`mot benchmark --only tracker-update`" in text and "do not edit by hand" in text
    assert "Command: `python benchmarks/tracker_update.py --frames 100 --sizes 10,50,200,500`" in text
    assert "- Machine: " in text and " cores; Python " in text and "- Partial run: only tracker-update" in text
    rows = table_rows(text)
    assert [row["detections"] for row in rows] == ["10", "50", "200", "500"]
    assert all(float(row["SORT"]) > 0 for row in rows)
    assert str(REPO) not in text and "## Inference" not in text


def test_a_failing_benchmark_stops_the_page_with_its_error(results_page, capsys):
    broken = results_page.Benchmark("Broken", "tracker_update.py", ("--sizes", "many"), "fails")
    with pytest.raises(SystemExit) as exit_info:
        results_page.run_benchmark(broken, threads=1)
    assert exit_info.value.code == 1
    stderr = capsys.readouterr().err
    assert "error: tracker_update.py failed (exit status 1)" in stderr and "ValueError" in stderr


def test_mot_benchmark_rejects_an_unknown_name_in_one_line():
    result = subprocess.run([sys.executable, "-m", "mot_heads.cli.main", "benchmark", "--only", "tracker-update,nope"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --only: no benchmark named 'nope'") and result.stderr.count("\n") == 1


def test_mot_benchmark_lists_the_page_benchmarks(results_page):
    from mot_heads.cli.benchmark import BENCHMARK_NAMES, results_page_script

    assert BENCHMARK_NAMES == ", ".join(results_page.BENCHMARKS)
    assert results_page_script() == BENCHMARKS / "results_page.py"
