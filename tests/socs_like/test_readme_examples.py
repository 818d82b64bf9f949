"""The README's examples run as written: a new user's first try must work."""

import os
import re
import subprocess
import sys
from pathlib import Path

from socs_like.client import AsyncClient
from socs_like.testing.hub import AgentProcess

README = Path(__file__).resolve().parents[2] / "README.md"


def _five_line_agent_section() -> str:
    text = README.read_text()
    start = text.index("## An agent in five lines")
    return text[start : text.index("\n## ", start + 1)]


def _command(words: str) -> list[str]:
    """A README command line, run with this interpreter (whose path holds this worktree)."""
    program, *args = words.split()
    assert program == "socs-like"
    return [sys.executable, "-m", "socs_like", *args]


def test_the_agent_in_five_lines_runs_as_the_readme_says(hub, tmp_path):
    section = _five_line_agent_section()
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    name, target = re.search(r'\] (\w+) = "([\w.:]+)"', section).groups()
    agent_words, call_words = re.findall(r"`(socs-like [^`]+)`", section)

    # Installed as the README says: an entry point of a distribution on the path.
    site_packages = tmp_path / "site"
    module, _, _ = target.partition(":")
    source = site_packages.joinpath(*module.split(".")).with_suffix(".py")
    source.parent.mkdir(parents=True)
    source.write_text(code)
    (source.parent / "__init__.py").write_text("")
    dist_info = site_packages / "hello_example-0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: hello-example\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text(f"[socs_like.agents]\n{name} = {target}\n")

    # The site config found without a flag, as on an OCS host.
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "default.yaml").write_text(hub.site_file.read_text())
    pythonpath = [str(site_packages), *sys.path]
    env = {"OCS_CONFIG_DIR": str(config_dir), "PYTHONPATH": ":".join(pythonpath)}

    instance_id = name.lower()
    client = AsyncClient(instance_id, hub_url=hub.url, timeout=2.0, ca_file=hub.ca_file)
    agent = AgentProcess(
        _command(agent_words),
        tmp_path / "agent.log",
        os.environ | {"PYTHONUNBUFFERED": "1"} | env,
        client,
        instance_id,
    )
    try:
        agent.wait_callable()
        out = subprocess.run(
            _command(call_words),
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ | env,
        )
    finally:
        agent.stop()
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ['OK: Operation "greet" is done.', "  greet[session 1] done succeeded"]
    # The task's message, after its time of day.
    assert [line[11:] for line in lines[2:]] == [
        'Status is now "starting".',
        "hello, Ann",
        'Status is now "done".',
    ]
