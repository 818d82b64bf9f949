"""Running one `socs-like` command: a user error is one line on stderr and exit code 2.

The `socs-like` command (`cli`) runs every command through `run`; the launcher's children run
the commands `socs-like up` starts through it too (an agent, a simulator, a plugin command such
as the dashboard), so a child behaves the same forked by the launcher or started plainly, and
the launcher does not depend on the CLI."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable, Mapping

Handler = Callable[[list[str]], int]


class UserError(Exception):
    """Printed as one line; exit code 2."""


def entry_points(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=group)}


HELP = ("-h", "--help")


def cmd_agent(argv: list[str]) -> int:
    if argv and argv[0] in HELP:
        classes = ", ".join(sorted(entry_points("socs_like.agents")))
        print(
            "usage: socs-like agent (CLASS | --instance-id ID) [agent args]\n\n"
            f"CLASS: {classes}\nsocs-like agent CLASS --help lists the arguments of one."
        )
        return 0
    from .runner import run_agent_process

    class_name = argv[0] if argv and not argv[0].startswith("-") else None
    return run_agent_process(argv[1:] if class_name else argv, class_name)


def cmd_simulate(argv: list[str]) -> int:
    simulators = entry_points("socs_like.simulators")
    if argv and argv[0] in HELP:
        print(
            f"usage: socs-like simulate NAME [args]\n\nNAME: {', '.join(sorted(simulators))}\n"
            "socs-like simulate NAME --help lists the arguments of one."
        )
        return 0
    if not argv or argv[0] not in simulators:
        raise UserError(f"simulate what? one of {sorted(simulators)}")
    return int(simulators[argv[0]].load()(argv[1:]))


# What `socs-like up` starts, besides the commands of the `socs_like.commands` entry points.
COMMANDS: Mapping[str, Handler] = {"agent": cmd_agent, "simulate": cmd_simulate}


def run(argv: list[str], handlers: Mapping[str, Handler] = COMMANDS) -> int:
    """Run ``argv``: a command of `handlers` or of the ``socs_like.commands`` entry points."""
    command, rest = argv[0], argv[1:]
    try:
        if command in handlers:
            return handlers[command](rest)
        plugins = entry_points("socs_like.commands")
        if command in plugins:
            return int(plugins[command].load()(rest))
        raise UserError(f"unknown command {command!r}; run socs-like --help")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"socs-like {command}: {exc}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[Exception], ...]:
    """The errors said in one line. Imported once one was raised: a command such as
    ``socs-like runs`` from cron must not load the hub and the site config to do nothing."""
    from .hub import HubError
    from .secrets import SecretsError
    from .site_config import SiteConfigError

    return (UserError, SiteConfigError, HubError, SecretsError)
