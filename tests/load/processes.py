"""Which interpreter a measured process runs on, and what it holds (from /proc)."""

import sys
from pathlib import Path

# A venv of requirements.lock alone, the packages the images hold (scripts/deployed-venv.sh, run by `make
# bench` and `make bench-floor`): replicas measured on it hold what deploys. The dev venv also holds pytest's
# and schemathesis' packages, and structlog and httpx import rich and pygments when they find them.
_DEPLOYED_PYTHON = Path(__file__).resolve().parents[2] / ".venv-deployed" / "bin" / "python"


def deployed_python() -> str:
    """The deployed packages' interpreter, or this one where that venv was not made."""
    return str(_DEPLOYED_PYTHON) if _DEPLOYED_PYTHON.exists() else sys.executable


def rss_mib(pid: int) -> float:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
