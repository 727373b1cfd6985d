"""The notebooks in notebooks/ run top to bottom (as Jupyter runs them: from their folder) and are stored clean."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def execute(name: str, timeout: int) -> nbformat.NotebookNode:
    """Run every cell of ``notebooks/<name>`` in a fresh kernel; a failing cell raises CellExecutionError."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    resources = {"metadata": {"path": str(NOTEBOOKS)}}  # the notebook's folder is its working directory
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_of(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code), "clear outputs before committing"


def test_bring_your_own_program_runs_offline():
    nb = execute("bring_your_own_program.ipynb", timeout=300)
    out = text_of(nb)
    assert "test accuracy: 0.33 without the skill -> 1.00 with it" in out
    assert "- Tickets about Orbit go to hardware." in out
    assert "best_candidate is compiled.skill: True" in out
    assert images_of(nb) == 1


def test_sweep_runs_offline_and_plots():
    nb = execute("sweep.ipynb", timeout=300)
    out = text_of(nb)
    assert "COMPLETE" in out and "PRUNED" in out and "best:" in out and "report.html" in out
    assert images_of(nb) == 4  # the per-step curves, Optuna's two plots, the best trial's score plot


@pytest.mark.local_lm
def test_quickstart_runs_on_the_embedded_lm():
    nb = execute("quickstart.ipynb", timeout=1500)  # measured 7.4 min on 2 busy cores (45 LM calls)
    out = text_of(nb)
    assert "validation (hard gate):" in out and "best_idx:" in out and "report.html" in out
    assert images_of(nb) == 1
