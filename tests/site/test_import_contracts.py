"""The layers of docs/architecture.md hold, and the contracts would catch a break."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "headshot_site", "accounts", "billing", "generation", "gpu_worker")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is missing")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", "--config", str(ROOT / ".importlinter")],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path):
    """The project's packages copied aside, to be broken without touching the checkout."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_the_project_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        (
            "accounts/layer_probe.py",
            "import billing.plans",
            "accounts is not allowed to import billing",
        ),
        (
            "billing/layer_probe.py",
            "from generation import selectors",
            "billing is not allowed to import generation",
        ),
        ("core/layer_probe.py", "import accounts.models", "core is not allowed to import accounts"),
        (
            "generation/layer_probe.py",
            "import headshot_site.metrics",
            "generation is not allowed to import headshot_site",
        ),
        ("generation/layer_probe.py", "import torch", "generation is not allowed to import torch"),
        (
            "billing/layer_probe.py",
            "import onnxruntime",
            "billing is not allowed to import onnxruntime",
        ),
    ],
)
def test_an_upward_or_gpu_stack_import_breaks_a_contract(tree_copy, module, statement, broken):
    (tree_copy / module).write_text(f"{statement}  # noqa: F401\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout
