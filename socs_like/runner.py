"""Start one agent process: find its class, merge its arguments, run it on the asyncio reactor.

The agent's own flags are those its class's ``Options`` declares (socs_like/settings.py);
`check_instance_arguments` reads an instance's command line against them as the agent will,
for ``socs-like up`` and ``config check``, without loading the agent.

Once the agent class is built, start-up is over: what exists then (framework, libraries, the
agent's parts) lives as long as the process, so it is frozen out of the garbage collector's
sight (``gc.freeze``) and no full collection walks it again while the loop serves. Measured
on the pysmurf monitor: a full collection took 35-50 ms (120 000 objects) unfrozen, 3-4 ms
frozen. The launcher freezes what it preloads the same way, before it forks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.metadata
import logging
import logging.handlers
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .logs import BACKUPS, CAPTURED_ENV, MAX_BYTES
from .settings import CheckingParser, NoOptions, SettingsError, add_arguments, from_namespace
from .site_config import AgentSettings, SiteConfigError, add_site_arguments, agent_settings

log = logging.getLogger("socs_like.runner")


class AgentClassError(Exception):
    """The agent class cannot be found or loaded; one line for a person."""


def agent_classes() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group="socs_like.agents")}


def load_agent_class(name: str) -> Any:
    entry = agent_classes().get(name)
    if entry is None:
        raise AgentClassError(
            f"no agent class {name!r}; installed classes: {sorted(agent_classes())}"
        )
    return entry.load()


def install_asyncio_reactor() -> asyncio.AbstractEventLoop:
    """Make Twisted run on a new asyncio loop; must happen before anything imports the reactor."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    return loop


def configure_logging(instance_id: str, log_dir: str | None, verbose: bool = False) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    # Under `socs-like up` stderr already goes to <log-dir>/<instance-id>.log (socs_like.logs).
    if log_dir and not os.environ.get(CAPTURED_ENV):
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                Path(log_dir) / f"{instance_id}.log", maxBytes=MAX_BYTES, backupCount=BACKUPS
            )
        )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s {instance_id} %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    import txaio
    from twisted.logger import globalLogPublisher

    # autobahn logs through txaio into the loggers above. It says "trying transport ..." as a
    # warning at each (re)connect; the agent says what matters of the hub in its own words.
    # txaio has no log level until a framework is chosen; the agent's autobahn is asyncio's,
    # which an agent class need not have imported yet.
    txaio.use_asyncio()
    txaio.set_global_log_level("debug" if verbose else "warn")  # type: ignore[attr-defined]
    logging.getLogger("autobahn").setLevel(logging.DEBUG if verbose else logging.ERROR)
    # asyncssh logs every channel at INFO; the agents using it say what matters
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if verbose else logging.WARNING)

    def failures_with_tracebacks(event: dict[str, Any]) -> None:
        # txaio prints only "Unhandled error in Deferred"; the traceback is what helps.
        failure = event.get("log_failure")
        if failure is not None:
            logging.getLogger("twisted").error("%s", failure.getTraceback())

    globalLogPublisher.addObserver(failures_with_tracebacks)  # type: ignore[arg-type]


def options_class(cls: type) -> type:
    """The settings an agent class declares (its ``Options``), `NoOptions` when it has none."""
    found: type = getattr(cls, "Options", NoOptions)
    return found


def declared_options(class_name: str) -> type | None:
    """The settings an installed agent class declares, read from its package's ``options``
    module without loading the agent (nor what it imports: Twisted, the databases, SSH);
    None when the class is not installed."""
    entry = agent_classes().get(class_name)
    if entry is None:
        return None
    package = entry.module.rpartition(".")[0]
    try:
        module = importlib.import_module(f"{package}.options")
    except ModuleNotFoundError:
        return NoOptions
    found: type = getattr(module, "Options", NoOptions)
    return found


def agent_parser(
    name: str, cls_doc: str | None, options: type, parser_class: type = argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """The command line of ``socs-like agent NAME``: the site flags, ``--verbose``, and the
    flags the class's settings declare."""
    parser: argparse.ArgumentParser = parser_class(
        prog=f"socs-like agent {name}", description=(cls_doc or "").strip().split("\n\n")[0]
    )
    add_site_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    add_arguments(parser, options)
    return parser


def check_instance_arguments(class_name: str, argv: list[str]) -> str | None:
    """What is wrong with an instance's command line (the site config's ``arguments`` and what
    ``up`` adds), as the agent would say it at start-up; None when it is fine or the class is
    not installed (that is said elsewhere)."""
    options = declared_options(class_name)
    if options is None:
        return None
    parser = agent_parser(class_name, None, options, CheckingParser)
    try:
        from_namespace(options, parser.parse_args(argv))
    except SettingsError as exc:
        return str(exc)
    return None


def parse_agent_args(
    argv: list[str], agent_class: str | type | None
) -> tuple[Any, Any, AgentSettings, bool]:
    """(agent class, its declared settings, the site settings, --verbose) for an agent command
    line; the class is named (an entry point), given (a test's own class), or left to the
    site config. A bad argument exits as argparse does, naming the flag."""
    class_name = agent_class.__name__ if isinstance(agent_class, type) else agent_class
    site_parser = argparse.ArgumentParser(add_help=False)
    add_site_arguments(site_parser)
    site_args, _ = site_parser.parse_known_args(argv)
    # `socs-like agent CLASS` alone: the class name is a fine instance id.
    if (
        not site_args.instance_id
        and not os.environ.get("INSTANCE_ID")
        and class_name
        and "-h" not in argv
        and "--help" not in argv
    ):
        site_args.instance_id = class_name.lower()
        argv = [*argv, "--instance-id", site_args.instance_id]
    settings = (
        agent_settings(site_args)
        if (site_args.instance_id or os.environ.get("INSTANCE_ID"))
        else None
    )
    name = class_name or (settings.agent_class if settings else None)
    if not name:
        raise AgentClassError(
            "which agent? give a class (socs-like agent FakeData) or an --instance-id "
            "that the site config lists"
        )
    cls = agent_class if isinstance(agent_class, type) else load_agent_class(name)
    parser = agent_parser(name, cls.__doc__, options_class(cls))
    args = parser.parse_args([*(settings.arguments if settings else []), *argv])
    try:
        options: Any = from_namespace(options_class(cls), args)
    except SettingsError as exc:
        parser.error(str(exc))
    # Again, from every word: the instance's arguments in the site config may hold site flags
    # (--crossbar-timeout, --session-data-interval...), and they are parsed only now.
    settings = agent_settings(args)
    return cls, options, settings, bool(args.verbose)


def run_agent_process(argv: list[str], class_name: str | None = None) -> int:
    """Run an agent until SIGINT/SIGTERM; returns the exit code."""
    try:
        cls, options, settings, verbose = parse_agent_args(argv, class_name)
    except (SiteConfigError, AgentClassError) as exc:
        print(f"socs-like agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.instance_id, settings.log_dir, verbose)
    loop = install_asyncio_reactor()
    from twisted.internet import reactor as installed

    from .agent import EXIT_ALREADY_RUNNING, Agent

    reactor: Any = installed  # the asyncio reactor; twisted's stubs type it as an interface

    outcome: dict[str, Any] = {"code": 0, "stuck": False}

    async def main() -> None:
        try:
            agent = Agent(settings, agent_class=cls.__name__, options=options)
            cls(agent, options)
        except Exception as exc:
            log.error("cannot set up %s: %s: %s", cls.__name__, type(exc).__name__, exc)
            outcome["code"] = EXIT_ALREADY_RUNNING
            reactor.stop()
            return
        gc.collect()  # what start-up left behind is not worth keeping frozen
        gc.freeze()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.shutdown)
        outcome["code"] = await agent.run()
        outcome["stuck"] = agent.blocked_threads
        reactor.stop()

    reactor.callWhenRunning(lambda: asyncio.ensure_future(main()))
    reactor.run(installSignalHandlers=False)
    if outcome["stuck"]:
        # A blocking op is still in its thread and cannot be interrupted; the interpreter
        # would wait for it at exit, so leave without waiting.
        logging.shutdown()
        os._exit(outcome["code"])
    return int(outcome["code"])
