"""The package list in pyproject.toml covers every folder of code or data, under the names we
install, and the package builds quietly with all of it."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLED_AS = {"socs_like": "socs_like", "agents": "socs_like_agents"}


def _shipped_folders() -> set[str]:
    # A folder of data files (the dashboard's static/) is a package to setuptools too: one
    # left out of the list is shipped all the same, with a warning at every install.
    found = set()
    for folder, name in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*"):
            parts = path.parent.relative_to(ROOT / folder).parts
            if path.is_file() and "__pycache__" not in parts:
                found.add(".".join((name, *parts)))
    return found


def test_every_code_or_data_folder_is_an_installed_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _shipped_folders() == listed


def test_the_wheel_builds_without_warnings_and_ships_the_dashboard(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in ("socs_like", "agents"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    out = subprocess.run(
        [*pip_wheel, "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stdout + out.stderr, out.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    static = ROOT / "socs_like" / "web" / "static"
    expected = {
        f"socs_like/web/static/{p.relative_to(static)}" for p in static.rglob("*") if p.is_file()
    }
    assert expected <= set(zipfile.ZipFile(wheel).namelist())


def test_no_top_level_agents_module_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"] == {"socs_like_agents": "agents"}
    assert not any(
        p == "agents" or p.startswith("agents.") for p in config["tool"]["setuptools"]["packages"]
    )
