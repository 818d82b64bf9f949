"""The examples of the README, docs/ and the agents' READMEs work as written: a new user's
first try must work.

`test_every_example_is_checked` holds each code block to one of the checks below, so a new
example without one fails: Python examples run (or, for one that needs a DAQ host, are bound
to the real signatures), site config fragments load, command lines name commands, options
and subcommands that exist (their ``--help``), make targets and benchmark scripts that take
the options shown, data formats parse. docs/deploying.md is walked through whole by
tests/socs_like/test_deploying.py.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from socs_like.client import AsyncClient, Client
from socs_like.site_config import parse_site_config
from socs_like.testing import wait_until
from socs_like.testing.hub import AgentProcess

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("agents/*/README.md"))]
# Walked through step by step, every block of it, by its own test.
WALKED_THROUGH = {"docs/deploying.md": "tests/socs_like/test_deploying.py"}
# Python examples, by their first line: the test that runs (or binds) each.
PYTHON = {
    "class Hello:": "test_the_agent_in_five_lines_runs_as_the_readme_says",
    "from socs_like.client import Client": "test_the_readmes_client_example_drives_an_agent",
    "import time": "test_the_counter_of_writing_an_agent_runs_and_publishes",
    '@settings("MyAgent options")': "test_the_settings_example_reads_as_the_page_says",
    "async with WorkerInterface(": "test_the_worker_interface_example_fits_its_signatures",
}
# Blocks that are not commands nor code: data formats, each read by the named check.
FORMATS = {
    "# booster magnet power supplies": "test_the_device_list_example_parses",
    "timestamp": "test_the_pysmurf_session_data_names_its_models_fields",
}
# Command blocks of other programs, by their first line: the test that runs them.
ELSEWHERE = {
    "socs-like secrets init": "test_compose_up.py: the README's compose lines, in order",
    "ocsbow --site-file ocs-site.yaml": "test_the_real_ocsbow_drives_our_host_manager",
}


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository
    line: int
    language: str
    text: str

    @property
    def first(self) -> str:
        return self.text.splitlines()[0].strip()


def blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, m.start()) + 1
            found.append(Block(str(doc.relative_to(ROOT)), line, m.group(1), m.group(2)))
    return found


def block(path: str, first: str) -> Block:
    (found,) = [b for b in blocks() if b.path == path and b.first.startswith(first)]
    return found


def command_lines(b: Block) -> list[str]:
    """The command lines of a shell block or a synopsis: continuations joined (after a
    backslash, or an indented line of options), comments and descriptions (after two spaces)
    left out."""
    joined = re.sub(r"\s*\\\n\s*|\n\s+(?=\[)", " ", b.text)
    lines = []
    for raw in joined.splitlines():
        if not raw or raw[0].isspace() or raw.startswith("#"):
            continue  # a description's next line, or a comment
        lines.append(re.split(r"\s#|\s{2,}", raw)[0].strip())
    return lines


def is_command_block(b: Block) -> bool:
    lines = command_lines(b)
    return b.language in ("sh", "") and bool(lines) and b.first not in FORMATS


def test_every_example_is_checked():
    unchecked = []
    for b in blocks():
        if b.path in WALKED_THROUGH or any(b.first.startswith(k) for k in ELSEWHERE):
            continue
        if b.language == "python":
            ok = any(b.first.startswith(key) for key in PYTHON)
        elif b.language in ("yaml", "toml", "js"):
            ok = True  # the tests of each language below
        elif b.first in FORMATS:
            ok = True
        elif is_command_block(b):
            programs = {program(line) for line in command_lines(b)}
            ok = programs <= {"socs-like", "make", "bench"}
        else:
            ok = False
        if not ok:
            unchecked.append(f"{b.path}:{b.line}")
    assert not unchecked, f"examples no test checks: {unchecked}"


def program(line: str) -> str:
    words = line.split()
    word = words[1] if words[0] == "sudo" else words[0]  # a namespace bench needs root
    return "bench" if word == ".venv/bin/python" and " bench/" in line else word


# --- command lines ----------------------------------------------------------------------------

# Commands whose first word after them is a subcommand (the rest take ids and names).
WITH_SUBCOMMANDS = {"config", "db", "host", "runs", "secrets", "suprsync"}


def placeholder(word: str) -> bool:
    """FILE, ID|all, [ARGS]: to be filled in, not typed."""
    return word.startswith("[") or word.split("|")[0].isupper()


def help_argvs(line: str) -> list[list[str]]:
    """The ``--help`` calls that show what `line` (``socs-like ...``) uses."""
    words = line.replace("[", " ").replace("]", " ").split()
    command, rest = words[1], words[2:]
    if command in ("agent", "simulate"):
        # CLASS or NAME: the command's line in the usage, else that class's or simulator's
        if not rest or rest[0].startswith("-") or placeholder(rest[0]):
            return [["--help"]]
        return [[command, rest[0], "--help"]]
    # the first word that is neither an option, an option's value nor a placeholder
    named = [
        w
        for before, w in zip(["", *rest], rest, strict=False)
        if not (w.startswith("-") or "=" in w or placeholder(w) or before.startswith("-"))
    ]
    if command in WITH_SUBCOMMANDS and named:
        return [[command, "--help"]] + [[command, s, "--help"] for s in named[0].split("|")]
    return [[command, "--help"]]


def flags(line: str) -> set[str]:
    """The options `line` uses (not those it passes on: ``--publisher-arg=--max-queue-mb``)."""
    return set(re.findall(r"(?<![\w=-])(--[a-z][\w-]*)", line))


def socs_like_lines() -> list[tuple[Block, str]]:
    return [
        (b, line)
        for b in blocks()
        if b.path not in WALKED_THROUGH and is_command_block(b)
        for line in command_lines(b)
        if program(line) == "socs-like"
    ]


@pytest.mark.slow
def test_every_socs_like_command_line_has_its_command_options_and_subcommands():
    # One interpreter answers every --help (a process each would cost a second each).
    calls = sorted({tuple(a) for _, line in socs_like_lines() for a in help_argvs(line)})
    answers = json.loads(
        subprocess.run(
            [sys.executable, "-c", HELP_SCRIPT, json.dumps(calls)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.splitlines()[-1]
    )
    failures = []
    for b, line in socs_like_lines():
        argvs = [" ".join(a) for a in help_argvs(line)]
        helps = [answers[a] for a in argvs]
        bad = [f"{a} exited with {answers[a][0]}" for a in argvs if answers[a][0] != 0]
        known = " ".join(text for _, text in helps)
        missing = sorted(f for f in flags(line) if not re.search(rf"{f}\b", known))
        if bad or missing:
            failures.append(f"{b.path}:{b.line}: {line!r}: {bad} {missing}")
    assert not failures, "\n".join(failures)


def test_every_call_line_names_an_operation_and_parameters_its_agent_takes(monkeypatch):
    """``socs-like call ID OP [ACTION] k=v ...``: the agent the shipped site config runs as
    ID registers OP, and OP's own parameter checks accept the parameters as typed."""
    from socs_like.agent import Agent
    from socs_like.cli import _parse_value
    from socs_like.ops import check_params
    from socs_like.runner import parse_agent_args

    monkeypatch.chdir(ROOT)  # the instance's arguments hold paths relative to its folder
    lines = [(b, line) for b, line in socs_like_lines() if line.split()[1] == "call"]
    calls = [shlex.split(line)[2:] for _, line in lines if not placeholder(line.split()[2])]
    assert len(calls) >= 8
    agents: dict[str, Agent] = {}
    for instance_id, op, *words in calls:
        if instance_id not in agents:
            argv = ["--instance-id", instance_id, "--site-file", "site-config.yaml"]
            cls, options, settings, _verbose = parse_agent_args(argv, None)
            agents[instance_id] = Agent(settings, agent_class=cls.__name__, options=options)
            cls(agents[instance_id], options)
        registered = agents[instance_id].operations.specs
        assert op in registered, f"{instance_id} has no {op}; it has {sorted(registered)}"
        given = [w for w in words if not w.startswith("--")]
        action = given.pop(0) if given and "=" not in given[0] else None
        assert action in (None, "start", "stop", "abort", "wait", "status")
        params = dict(w.split("=", 1) for w in given)
        check_params(registered[op].func, {k: _parse_value(v) for k, v in params.items()})


HELP_SCRIPT = """
import contextlib, io, json, sys
from socs_like.cli import main
answers = {}
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    answers[" ".join(argv)] = [code or 0, out.getvalue()]
print(json.dumps(answers))
"""


def test_make_and_bench_lines_name_targets_scripts_and_options_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    lines = [line for b in blocks() if is_command_block(b) for line in command_lines(b)]
    checked = 0
    for line in lines:
        words = shlex.split(line.removeprefix("sudo "))
        if program(line) == "make":
            assert re.search(rf"^{words[1]}:", makefile, re.M), line
            for setting in words[2:]:
                assert f"$({setting.split('=')[0]})" in makefile, line
            checked += 1
        elif program(line) == "bench":
            script = ROOT / words[1]
            source = script.read_text()
            if "from harness import" in source:  # the options the benchmarks share
                source += (script.parent / "harness.py").read_text()
            for flag in flags(line):
                assert f'"{flag}"' in source, f"{line}: {words[1]} has no {flag}"
            checked += 1
    assert checked >= 8


# --- configuration fragments ------------------------------------------------------------------


def test_the_layouts_call_path_names_files_and_functions_that_exist():
    """The README's Layout says where an op's call goes: each file and ``Class.function`` it
    names is there."""
    text = README.read_text()
    layout = text[text.index("## Layout") :]
    layout = layout[: layout.index("\n## ", 1)]
    names = re.findall(r"`([^`]+)`", layout)
    files = [n for n in names if n.endswith(".py")]
    methods = [n for n in names if re.fullmatch(r"[A-Z]\w+\.\w+", n)]
    assert len(files) >= 10 and len(methods) >= 6
    missing = [f for f in files if not any((d / f).exists() for d in (ROOT, ROOT / "socs_like"))]
    defined = {
        f"{node.name}.{item.name}"
        for path in (ROOT / "socs_like").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    missing += [m for m in methods if m not in defined]
    assert not missing


def test_every_yaml_fragment_is_a_site_config_that_loads():
    fragments = [b for b in blocks() if b.language == "yaml" and b.path not in WALKED_THROUGH]
    assert fragments
    for b in fragments:
        parse_site_config(b.text, f"{b.path}:{b.line}")


def test_the_entry_point_fragment_names_the_example_class_in_our_group():
    (b,) = [b for b in blocks() if b.language == "toml"]
    entry_points = tomllib.loads(b.text)["project"]["entry-points"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (
        entry_points.keys() == {"socs_like.agents"} <= pyproject["project"]["entry-points"].keys()
    )
    (target,) = entry_points["socs_like.agents"].values()
    counter = block("docs/writing-an-agent.md", "import time").text
    assert re.search(rf"^class {target.rpartition(':')[2]}:", counter, re.M)


def test_the_settings_example_reads_as_the_page_says(monkeypatch):
    from typing import Literal

    from socs_like.commands import SshOptions
    from socs_like.settings import SettingsError, parse, part, setting, settings

    code = block("docs/writing-an-agent.md", '@settings("MyAgent options")').text
    example = types.ModuleType("settings_example")  # dataclasses look their module up
    monkeypatch.setitem(sys.modules, example.__name__, example)
    names = {"Literal": Literal, "SshOptions": SshOptions, "part": part, "setting": setting}
    vars(example).update(names, settings=settings)
    exec(compile(code, "writing-an-agent.md", "exec"), vars(example))
    options = example.Options
    monkeypatch.setenv("MY_INTERVAL", "2.5")
    chosen = parse(options, ["--hosts", "a", "b", "--ssh-keepalive", "1"])
    assert (chosen.hosts, chosen.interval, chosen.mode) == (("a", "b"), 2.5, "relay")
    assert chosen.ssh.ssh_keepalive == 1.0
    with pytest.raises(SettingsError, match=r"^--interval must be >= 0.1 s, not 0.01$"):
        parse(options, ["--hosts", "a", "--interval", "0.01"])


def test_the_panel_example_gets_what_the_dashboard_gives_a_panel():
    (b,) = [b for b in blocks() if b.language == "js"]
    app = (ROOT / "socs_like" / "web" / "static" / "app.js").read_text()
    assert "registerPanel(panel)" in app
    given = re.search(r"render\(el, \{ ([\w, ]+) \}\)", b.text).group(1).split(", ")
    call = re.search(r"\.render\([^{]*\{(.*?)\}\)", app, re.S).group(1)
    for name in given:
        assert re.search(rf"\b{name}\b", call), f"the dashboard gives a panel no {name}"


def test_the_device_list_example_parses():
    from socs_like_agents.datalogger.listfile import parse_device_list

    text = block("agents/datalogger/README.md", "# booster").text
    assert len(parse_device_list(text, "README.md")) == 3


def test_the_pysmurf_session_data_names_its_models_fields():
    import dataclasses

    from socs_like_agents.pysmurf_monitor.models import RunSessionData

    text = block("agents/pysmurf_monitor/README.md", "timestamp").text
    shown = dict(re.findall(r"^(\w+):?(.*(?:\n .*)*)", text, re.M))
    fields = {f.name: f for f in dataclasses.fields(RunSessionData)}
    assert shown.keys() == fields.keys()
    for name, listed in shown.items():
        kind = RunSessionData.__annotations__[name]
        model = getattr(sys.modules[RunSessionData.__module__], kind, None)
        if not dataclasses.is_dataclass(model):
            continue
        # "a, b{k: n}, c (what it is), d[]": the names, without what brackets explain
        bare = re.sub(r"\([^)]*\)|\{[^}]*\}|\[\]", "", listed)
        names = {word.split()[0] for word in bare.split(",") if word.strip()}
        assert names == {f.name for f in dataclasses.fields(model)}, name


# --- Python examples --------------------------------------------------------------------------


def _five_line_agent_section() -> str:
    text = README.read_text()
    start = text.index("## An agent in five lines")
    return text[start : text.index("\n## ", start + 1)]


def _command(words: str) -> list[str]:
    """A README command line, run with this interpreter (whose path holds this worktree)."""
    program, *args = words.split()
    assert program == "socs-like"
    return [sys.executable, "-m", "socs_like", *args]


def _install(tmp_path: Path, code: str, name: str, module: str) -> dict[str, str]:
    """`code` installed as module `module`, whose class `name` is an agent entry point of a
    distribution on the path; the environment that sees it, with the site config found
    without a flag, as on an OCS host (``$OCS_CONFIG_DIR``)."""
    site_packages = tmp_path / "site"
    source = site_packages.joinpath(*module.split(".")).with_suffix(".py")
    source.parent.mkdir(parents=True)
    source.write_text(code)
    (source.parent / "__init__.py").write_text("")
    dist_info = site_packages / "example-0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: example\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text(f"[socs_like.agents]\n{name} = {module}:{name}\n")
    return {"PYTHONPATH": ":".join([str(site_packages), *sys.path])}


def _site_dir(hub, tmp_path: Path) -> Path:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "default.yaml").write_text(hub.site_file.read_text())
    return config_dir


def test_the_agent_in_five_lines_runs_as_the_readme_says(hub, tmp_path):
    section = _five_line_agent_section()
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    name, target = re.search(r'\] (\w+) = "([\w.:]+)"', section).groups()
    agent_words, call_words = re.findall(r"`(socs-like [^`]+)`", section)
    module, _, cls = target.partition(":")
    assert cls == name
    env = _install(tmp_path, code, name, module)
    env["OCS_CONFIG_DIR"] = str(_site_dir(hub, tmp_path))

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


def test_the_readmes_client_example_drives_an_agent(hub, run_agent, tmp_path, monkeypatch):
    code = block("README.md", "from socs_like.client import Client").text
    instance_id = re.search(r'Client\("([\w-]+)"\)', code).group(1)
    run_agent("FakeData", instance_id)
    monkeypatch.setenv("OCS_CONFIG_DIR", str(_site_dir(hub, tmp_path)))
    names: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), names)
    client = names["c"]
    assert isinstance(client, Client)
    try:
        delay = client.delay_task.status().session
        assert (delay["op_name"], delay["status"], delay["success"]) == ("delay_task", "done", True)
        acq = client.acq.wait(timeout=10).session
        assert acq["op_name"] == "acq" and acq["status"] == "done", acq
    finally:
        client.close()


def test_the_counter_of_writing_an_agent_runs_and_publishes(hub, tmp_path):
    code = block("docs/writing-an-agent.md", "import time").text
    env = _install(tmp_path, code, "Counter", "counter_example.agent")
    env["OCS_CONFIG_DIR"] = str(_site_dir(hub, tmp_path))
    # as the page says it runs
    words = "socs-like agent Counter --instance-id counter1 --step 2"
    client = AsyncClient("counter1", hub_url=hub.url, timeout=5.0)
    agent = AgentProcess(
        _command(words), tmp_path / "agent.log", os.environ | env, client, "counter1"
    )
    sync = Client("counter1", hub_url=hub.url, timeout=5.0)
    try:
        agent.wait_callable()
        assert sync.reset(to=5).session["messages"][-2][1] == "reset to 5"
        # `count` runs from the start; each tick adds the step and publishes (a failed
        # publish would end it)
        wait_until(
            lambda: (
                (s := sync.count.status().session)["status"] in ("done", "error")
                or s["data"].get("value", 0) >= 4
            ),
            30,
            interval=0.2,
            message="two ticks",
        )
        count = sync.count.status().session
        assert count["status"] in ("starting", "running"), count["messages"]
    finally:
        sync.close()
        agent.stop()


def test_the_worker_interface_example_fits_its_signatures():
    from socs_like_agents.daq_worker.interface import WorkerInterface

    tree = ast.parse(
        block("agents/daq_worker/README.md", "async with WorkerInterface(").text.replace(
            "async with", "with"
        )
    )
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert len(calls) == 9
    for call in calls:
        if isinstance(call.func, ast.Name):
            target = WorkerInterface.__init__
        else:
            target = getattr(WorkerInterface, call.func.attr)
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        inspect.signature(target).bind(None, *args, **kwargs)
