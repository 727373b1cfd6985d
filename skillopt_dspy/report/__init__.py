"""The run report: one self-contained HTML file that shows what training did and why.

It reads a run directory (see :mod:`skillopt_dspy.state`), so it works for a finished or an interrupted
run: validation and train score per step with every candidate marked, the diff of every accepted change,
every edit with its source and fate, each gate decision, the slow-update guidance per epoch, and LM
calls, tokens and time per stage. Figures are PNG embedded in the page; reading it needs no JavaScript.

Example:
    >>> from skillopt_dspy.report import write_report
    >>> write_report("runs/quickstart-20260101-120000")  # doctest: +SKIP
    PosixPath('runs/quickstart-20260101-120000/report.html')

From the shell: ``skillopt-dspy report RUN_DIR [--out FILE]``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from skillopt_dspy.report.data import RunData, load_run
from skillopt_dspy.report.plots import INSTALL_HINT
from skillopt_dspy.state import atomic_write_text

__all__ = ["REPORT_NAME", "RunData", "check_report_dependencies", "load_run", "render_report", "write_report"]

REPORT_NAME = "report.html"
logger = logging.getLogger(__name__)


def check_report_dependencies() -> None:
    """Raise ``ImportError`` with the install hint unless matplotlib is importable (checked before a run)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc


def render_report(run_dir: str | os.PathLike) -> str:
    """The report of the run in ``run_dir`` as an HTML string.

    Example:
        >>> html = render_report("runs/x")  # doctest: +SKIP
    """
    from skillopt_dspy.report.html import render

    return render(load_run(run_dir))


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``); returns its path.

    Example:
        >>> write_report("runs/x", out="x.html")  # doctest: +SKIP
        PosixPath('x.html')
    """
    path = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    atomic_write_text(path, render_report(run_dir))
    logger.info("run report written to %s", path)
    return path
