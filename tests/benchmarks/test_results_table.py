"""benchmarks/results_table.py: the last tracking evaluation of each run, as markdown."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "benchmarks", "results_table.py")


def write_run(folder, mota):
    folder.mkdir()
    scores = {f"tracking/{k}": v for k, v in dict(HOTA=50.0, DetA=40.0, AssA=60.0, IDF1=70.0, IDSW=3.0, FP=4.0,
                                                   FN=5.0).items()}
    records = [{"iteration": 0, "time": 2.0}, {"iteration": 1, "time": 4.0}, {"iteration": 2, "time": 3.0},
               {"iteration": 2, **scores, "tracking/MOTA": mota - 10, "bbox/AP50": 80.0},
               {"iteration": 3, **scores, "tracking/MOTA": mota, "tracking/MOTA-person": 1.0, "bbox/AP50": 90.0}]
    (folder / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return str(folder)


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def test_rows_take_the_last_evaluation_the_iterations_and_the_median_time(tmp_path):
    out = run("--run", f"base={write_run(tmp_path / 'a', 61.0)}", "--run", f"+REN={write_run(tmp_path / 'b', 72.5)}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("| run | HOTA | DetA | AssA | MOTA | IDF1 | IDSW | FP | FN | AP50")
    assert lines[2] == "| base | 50.0 | 40.0 | 60.0 | 61.0 | 70.0 | 3 | 4 | 5 | 90.0 | 3 | 3.00 |"
    assert lines[3].startswith("| +REN | 50.0 | 40.0 | 60.0 | 72.5 |")


def test_evaluation_only_runs_have_no_iterations(tmp_path):
    folder = tmp_path / "eval"
    folder.mkdir()
    scores = dict(HOTA=50.0, DetA=40.0, AssA=60.0, MOTA=61.0, IDF1=70.0, IDSW=3, FP=4, FN=5)
    (folder / "metrics.json").write_text(json.dumps({"iteration": 0, **{f"tracking/{k}": v for k, v in scores.items()}}))
    out = run("--run", f"eval={folder}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[2] == "| eval | 50.0 | 40.0 | 60.0 | 61.0 | 70.0 | 3 | 4 | 5 | nan | - | - |"


def test_bad_runs_end_with_one_clear_sentence(tmp_path):
    out = run("--run", f"x={tmp_path}")
    assert out.returncode == 1 and "metrics.json does not exist" in out.stderr
    out = run("--run", f"x={write_run(tmp_path / 'a', 61.0)}", "--class", "car")
    assert out.returncode == 1 and "no tracking/MOTA-car" in out.stderr
    assert run("--run", "no-equals-sign").returncode == 2
