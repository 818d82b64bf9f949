"""Every agent has a README that names each argument the agent adds, in the first column of
one of its tables (where a newcomer looks up what a flag does and its default)."""

import argparse
import importlib.metadata
import re
from pathlib import Path

import pytest

from socs_like.runner import declared_options
from socs_like.settings import add_arguments

ROOT = Path(__file__).resolve().parents[2]
AGENTS = sorted(importlib.metadata.entry_points(group="socs_like.agents"), key=lambda e: e.name)


def _first_columns(text: str) -> set[str]:
    """The options named in the first cell of each table row."""
    cells = (line.split("|")[1] for line in text.splitlines() if line.startswith("|"))
    return {option for cell in cells for option in re.findall(r"--[\w-]+", cell)}


@pytest.mark.parametrize("entry", AGENTS, ids=[e.name for e in AGENTS])
def test_the_agents_readme_names_every_argument(entry: importlib.metadata.EntryPoint) -> None:
    package = entry.value.split(":")[0].split(".")[1]  # socs_like_agents.<package>.agent
    readme = ROOT / "agents" / package / "README.md"
    assert readme.exists(), f"{entry.name} has no README ({readme.relative_to(ROOT)})"
    parser = argparse.ArgumentParser()
    add_arguments(parser, declared_options(entry.name))
    options = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
    missing = sorted(options - {"--help"} - _first_columns(readme.read_text()))
    assert not missing, f"{readme.relative_to(ROOT)} has no table row for {missing}"
