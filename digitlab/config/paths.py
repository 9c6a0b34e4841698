"""Where DigitLab's folders are: the repository, the runs folder. Worked out here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_ENV_VAR = "DIGITLAB_RUNS"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # the development data beside a checkout (never downloaded)


def runs_root() -> Path:
    """The folder training runs are written to: $DIGITLAB_RUNS, else runs/ in the repository."""
    return Path(os.environ.get(RUNS_ENV_VAR) or REPO_ROOT / "runs")
