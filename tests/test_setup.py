import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_setup_without_python310_stops_with_one_sentence(tmp_path):
    for name in ("setup.sh", "requirements.txt", "pyproject.toml"):
        shutil.copy(os.path.join(REPO, name), tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    bin_dir = tmp_path / "bin"  # only the tools the script needs, no Python at all
    bin_dir.mkdir()
    for tool in ("bash", "cat", "sha256sum", "cut", "dirname", "rm"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {"PATH": str(bin_dir), "HOME": str(empty), "PYENV_ROOT": str(empty)}
    result = subprocess.run(["bash", "setup.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable CPython 3.10 found; install Python 3.10" in lines[0]
    assert not (tmp_path / ".venv").exists()


def test_setup_on_a_ready_machine_changes_nothing():
    stamp = os.path.join(REPO, ".venv", ".installed")
    if not os.path.isfile(stamp):
        pytest.skip("this environment was not made by setup.sh (e.g. Detectron2 built from source)")
    before = os.path.getmtime(stamp)
    result = subprocess.run(["bash", "setup.sh"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "up to date" in result.stdout
    assert os.path.getmtime(stamp) == before
