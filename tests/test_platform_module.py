"""The standard library's ``platform`` module is never shadowed by the ``platform/`` folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = "import platform; print(platform.system())"


def test_from_the_repo_root() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "Linux"


def test_from_the_installed_environment(tmp_path: Path) -> None:
    # The installed package is importable as `ems`, and `platform` is still the stdlib's.
    probe = PROBE + "; import ems, ems_tenants; assert not hasattr(platform, '__path__')"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "Linux"


def test_platform_folder_is_not_a_package() -> None:
    assert not (REPO / "platform" / "__init__.py").exists()
