"""scripts/setup.sh: safe to run again, and quick when nothing needs installing."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_second_setup_installs_nothing(tmp_path):
    """The stamp names pyproject.toml's hash once pip has run, and a run with the stamp current skips pip:
    proved by a venv whose pip would fail if it were called. The Node runtimes, installed, are not fetched
    again: an npm that fails if called is first on PATH."""
    venv = tmp_path / "venv"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (venv / "bin").mkdir(parents=True)
    real = ROOT / ".venv" / "bin" / "python"
    # A python that runs the real one for anything but pip.
    (venv / "bin" / "python").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "pip was called" >&2; exit 9; fi\n'
        f'exec "{real}" "$@"\n'
    )
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".installed-base").write_text(wanted + "\n")
    (tmp_path / "npm").write_text('#!/bin/sh\necho "npm was called" >&2\nexit 9\n')
    (tmp_path / "npm").chmod(0o755)
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": f"{tmp_path}:/usr/local/bin:/usr/bin:/bin", "LAMBDABOX_VENV": str(venv)})
    assert done.returncode == 0, done.stderr
    assert "pip was called" not in done.stderr
    assert "npm was called" not in done.stderr and "Installing" not in done.stdout

    (venv / ".installed-base").write_text("an older pyproject\n")
    again = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LAMBDABOX_VENV": str(venv)})
    assert again.returncode != 0 and "pip was called" in again.stderr
