"""The import-linter contracts in pyproject.toml hold, and each one fails on the violation it exists for."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    root = tmp_path_factory.mktemp("boundaries")
    shutil.copytree(ROOT / "recsys_assets", root / "recsys_assets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": ""}, timeout=120)


def test_the_project_keeps_every_contract(tree):
    result = lint(tree)
    assert result.returncode == 0, result.stdout
    assert "5 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("workflow/naming.py", "import dagster", "are Dagster-free BROKEN"),
    ("personalize_rules/limits.py", "import dagster_aws", "are Dagster-free BROKEN"),
    ("assets/common.py", "from recsys_assets.engine import lifecycle", "Only the Personalize resource imports the "
                                                                         "local engine BROKEN"),
    ("engine/batch.py", "from recsys_assets.export import coercion", "The engine imports nothing of the pipeline BROKEN"),
    ("workflow/naming.py", "from recsys_assets.export import mapping", "then rules and storage BROKEN"),
    ("engine/kernels.py", "from recsys_assets.engine import batch", "No import cycles between the modules of a package "
                                                                     "BROKEN"),
])
def test_a_deliberate_violation_breaks_its_contract(tree, module, line, broken):
    path = tree / "recsys_assets" / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # deliberate violation\n")
    try:
        result = lint(tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    assert broken in " ".join(result.stdout.split()), result.stdout
