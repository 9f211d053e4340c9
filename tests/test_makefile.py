"""The Makefile's entry points, run with a stand-in for the virtualenv's Python that prints
each command it is given and the environment it sees: nothing is installed or served."""

import os
import subprocess
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MARKER = "HANDOFF-MAKE"
STAND_IN = f"""#!/bin/sh
echo "{MARKER} $* DEBUG=${{DEBUG-unset}} HANDOFF_SITE_URL=${{HANDOFF_SITE_URL-unset}}"
"""


def make(target: str, venv: Path, **environment: str) -> list[str]:
    """The commands ``make target`` gave the virtualenv's Python, with what each saw."""
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    python.write_text(STAND_IN)
    python.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "HANDOFF_SITE_URL", "MAKEFLAGS", "MAKELEVEL"}
    }
    result = subprocess.run(
        ["make", "--no-print-directory", target, f"VENV={venv}", "PYTHON=/bin/false"],  # noqa: S607
        cwd=BASE_DIR,
        env=env | environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [
        line.removeprefix(f"{MARKER} ")
        for line in result.stdout.splitlines()
        if line.startswith(MARKER)
    ]


def test_make_run_serves_in_development_mode_at_its_own_address(tmp_path):
    commands = make("run", tmp_path / "venv")

    served = [command for command in commands if command.startswith("manage.py")]
    assert [command.split(" DEBUG=")[0] for command in served] == [
        "manage.py migrate --noinput",
        "manage.py seed_demo",
        "manage.py runserver 127.0.0.1:8000",
    ]
    for command in served:
        assert command.endswith("DEBUG=True HANDOFF_SITE_URL=http://127.0.0.1:8000"), command


def test_make_run_is_development_mode_whatever_the_shell_exports(tmp_path):
    commands = make("run", tmp_path / "venv", DEBUG="False")

    assert commands[-1].startswith("manage.py runserver"), commands
    assert "DEBUG=True" in commands[-1]


def test_make_install_prod_installs_the_runtime_dependencies_without_the_test_tools(tmp_path):
    production = make("install-prod", tmp_path / "prod")
    development = make("install", tmp_path / "dev")

    installs = [command for command in production if "pip install" in command]
    assert installs[-1].startswith("-m pip install --quiet -e . "), production
    assert not any("[dev]" in command for command in production)
    assert any("-e .[dev] " in command for command in development), development
    assert (tmp_path / "prod" / ".installed-prod-stamp").exists()
