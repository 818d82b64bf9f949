"""The package list in pyproject.toml covers every folder of code, under the names we install."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLED_AS = {"socs_like": "socs_like", "agents": "socs_like_agents"}


def _code_folders() -> set[str]:
    found = set()
    for folder, name in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.parent.relative_to(ROOT / folder).parts
            if "__pycache__" not in parts:
                found.add(".".join((name, *parts)))
    return found


def test_every_code_folder_is_an_installed_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _code_folders() == listed


def test_no_top_level_agents_module_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"] == {"socs_like_agents": "agents"}
    assert not any(
        p == "agents" or p.startswith("agents.") for p in config["tool"]["setuptools"]["packages"]
    )
