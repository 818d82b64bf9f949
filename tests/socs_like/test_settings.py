"""Declared settings (socs_like/settings.py), no I/O: a declaration read back from the words it
gives, the precedence command line > environment > default, the exact errors a person sees,
and get_api's listing with a secret redacted."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socs_like.agent import Agent
from socs_like.settings import (
    REDACTED,
    SettingsError,
    add_arguments,
    describe,
    parse,
    part,
    setting,
    settings,
)
from socs_like.testing.inprocess import hubless_settings


@settings("Link options")
class Link:
    link_timeout: float = setting(default=10.0, help="seconds to connect")
    token: str | None = setting(default=None, env="DEMO_TOKEN", secret=True, help="login token")


@settings("Demo options")
class Demo:
    hosts: tuple[str, ...] = setting(nargs="+", metavar="HOST", help="hosts to watch")
    port: int = setting(default=8200, env="DEMO_PORT", help="UDP port")
    mode: Literal["relay", "direct"] = setting(default="relay", help="how")
    data_dir: Path | None = setting(default=None, help="where files go")
    root: tuple[str, ...] = setting(default=(), metavar="DIR", help="repeatable")
    echo: bool = setting(default=False, help="log every statement")
    create: bool = setting(default=True, help="create the tables")
    relay: bool = setting(default=True, flag="--no-relay", help="start with the relay off")
    no_check: bool = setting(default=False, help="turn the check off")
    link: Link = part(default_factory=Link)

    def __post_init__(self) -> None:
        if self.link.link_timeout <= 0:
            raise ValueError(f"--link-timeout must be more than 0, not {self.link.link_timeout:g}")


words = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8)


def argv_of(demo: Demo) -> list[str]:
    """The words that ask for `demo`, every flag spelt out."""
    argv = ["--hosts", *demo.hosts, "--port", str(demo.port), "--mode", demo.mode]
    if demo.data_dir is not None:
        argv += ["--data-dir", str(demo.data_dir)]
    for root in demo.root:
        argv += ["--root", root]
    argv += ["--echo"] if demo.echo else []
    argv += ["--create" if demo.create else "--no-create"]
    argv += [] if demo.relay else ["--no-relay"]
    argv += ["--no-check"] if demo.no_check else []
    argv += ["--link-timeout", repr(demo.link.link_timeout)]
    return argv + (["--token", demo.link.token] if demo.link.token else [])


@given(
    st.builds(
        Demo,
        hosts=st.lists(words, min_size=1, max_size=3).map(tuple),
        port=st.integers(0, 65535),
        mode=st.sampled_from(["relay", "direct"]),
        data_dir=st.none() | words.map(Path),
        root=st.lists(words, max_size=3).map(tuple),
        echo=st.booleans(),
        create=st.booleans(),
        relay=st.booleans(),
        no_check=st.booleans(),
        link=st.builds(
            Link,
            link_timeout=st.floats(0.001, 1e6),
            token=st.none() | words,
        ),
    )
)
def test_the_words_a_declaration_gives_read_back_as_the_same_settings(demo: Demo) -> None:
    assert parse(Demo, argv_of(demo), env={}) == demo


def test_what_is_not_given_is_the_default_and_settings_are_frozen() -> None:
    demo = parse(Demo, ["--hosts", "a"], env={})
    assert demo == Demo(hosts=("a",))
    assert (demo.port, demo.root, demo.create, demo.relay, demo.link.token) == (
        8200,
        (),
        True,
        True,
        None,
    )
    with pytest.raises(AttributeError):
        demo.port = 1  # type: ignore[misc]


def test_the_command_line_wins_over_the_environment_which_wins_over_the_default() -> None:
    env = {"DEMO_PORT": "9000", "DEMO_TOKEN": "t0k"}
    assert parse(Demo, ["--hosts", "a"], env={}).port == 8200
    assert parse(Demo, ["--hosts", "a"], env=env).port == 9000
    assert parse(Demo, ["--hosts", "a", "--port", "7"], env=env).port == 7
    assert parse(Demo, ["--hosts", "a"], env=env).link.token == "t0k"
    assert parse(Demo, ["--hosts", "a"], env={"DEMO_PORT": ""}).port == 8200  # set empty


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        ([], {}, "the following arguments are required: --hosts"),
        (["--hosts", "a", "--port", "x"], {}, "argument --port: invalid int value: 'x'"),
        (
            ["--hosts", "a", "--mode", "both"],
            {},
            "argument --mode: invalid choice: 'both' (choose from 'relay', 'direct')",
        ),
        (["--hosts", "a", "--prot", "1"], {}, "unrecognized arguments: --prot 1"),
        (
            ["--hosts", "a"],
            {"DEMO_PORT": "eighty"},
            "$DEMO_PORT (for --port): invalid int value: 'eighty' "
            "(invalid literal for int() with base 10: 'eighty')",
        ),
        (["--hosts", "a", "--link-timeout", "0"], {}, "--link-timeout must be more than 0, not 0"),
    ],
)
def test_a_refused_value_is_one_line_naming_the_flag(
    argv: list[str], env: dict[str, str], said: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        parse(Demo, argv, env=env)
    assert str(refused.value) == said


def test_help_lists_every_flag_under_its_title_with_its_help() -> None:
    parser = argparse.ArgumentParser(prog="demo")
    add_arguments(parser, Demo)
    text = " ".join(parser.format_help().split())
    for flag in ("--hosts HOST [HOST ...]", "--port PORT", "--mode {relay,direct}", "--root DIR"):
        assert flag in text
    for flag in ("--echo", "--create, --no-create", "--no-relay", "--link-timeout", "--token"):
        assert flag in text
    assert "Demo options:" in text and "Link options:" in text
    assert "--no-relay start with the relay off" in text
    assert "usage: demo [-h] --hosts HOST [HOST ...]" in text  # required: no brackets


def test_get_api_lists_the_settings_in_effect_and_redacts_a_secret() -> None:
    demo = parse(Demo, ["--hosts", "a", "b", "--token", "hunter2", "--port", "7"], env={})
    agent = Agent(hubless_settings("demo"), agent_class="Demo", options=demo)
    listed = {s["name"]: s for s in agent.api()["settings"]}
    assert listed["port"] == {
        "name": "port",
        "flag": "--port",
        "type": "int",
        "default": 8200,
        "required": False,
        "help": "UDP port",
        "env": "DEMO_PORT",
        "secret": False,
        "value": 7,
    }
    assert (listed["hosts"]["value"], listed["hosts"]["required"]) == (["a", "b"], True)
    assert listed["token"]["value"] == listed["token"]["default"] == REDACTED
    assert "hunter2" not in repr(agent.api())
    assert describe(demo) == agent.api()["settings"]
