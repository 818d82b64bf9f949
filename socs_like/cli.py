"""The `socs-like` command. Every user error is one clear line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .entry import COMMANDS, Handler, UserError, entry_points, run

if TYPE_CHECKING:
    from .site_config import SiteConfig

USAGE = """\
usage: socs-like COMMAND ...

  up [--site-config F]           run this host: the hub (if it owns it) and its agents
  hub [--site-config F]          run only the hub
  agent (CLASS | --instance-id ID) [agent args]   run one agent (--help lists its args)
  call ID OP [start|stop|abort|wait|status] [key=value ...] [--timeout S] [--http] [--full]
  status [ID]                    table of agents, operations and sessions
  feed ID FEED                   print a feed's events as they arrive
  config check [--site-config F] validate the site config
  simulate NAME [args]           run a simulator ({simulators})
{extra}"""


def _usage() -> str:
    extra = "".join(
        f"  {name} ...{' ' * (29 - len(name))}see socs-like {name} --help\n"
        for name in sorted(entry_points("socs_like.commands"))
    )
    return USAGE.format(
        simulators=", ".join(sorted(entry_points("socs_like.simulators"))), extra=extra
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    return run(argv, HANDLERS)


def _site_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"socs-like {prog}", description=description)
    parser.add_argument(
        "--site-config",
        "--site-file",
        dest="site_config",
        metavar="PATH",
        help="site config (default: $OCS_CONFIG_DIR/default.yaml, else ./site-config.yaml)",
    )
    return parser


def _ca_argument(parser: argparse.ArgumentParser) -> None:
    from .secrets import CA_FILE_HELP

    parser.add_argument("--ca-file", metavar="PATH", help=CA_FILE_HELP)


def _ca_option(args: argparse.Namespace) -> dict[str, Any]:
    """``--ca-file`` as a client's keyword when given (then it comes before the CA bundle of
    ``$SOCS_LIKE_CA_FILE`` and of the site config, see `HubConfig.ca_bundle`)."""
    return {"ca_file": args.ca_file} if args.ca_file else {}


NO_SITE_CONFIG = (
    "no site config: give --site-config, set OCS_CONFIG_DIR, or run where site-config.yaml is"
)


def _load_site(explicit: str | None) -> tuple[Path, SiteConfig]:
    """The site config's path and contents."""
    from .site_config import find_site_config, load_site_config

    path = find_site_config(explicit)
    if path is None:
        raise UserError(NO_SITE_CONFIG)
    return path, load_site_config(path)


# --- running things ---------------------------------------------------------------------------


def cmd_up(argv: list[str]) -> int:
    parser = _site_parser("up", "Run this host's hub and agents; restart what dies; Ctrl-C stops.")
    parser.add_argument(
        "--site-host", help="host block to run (default: $SITE_HOST, else hostname)"
    )
    parser.add_argument("--no-table", action="store_true", help="log lines instead of a live table")
    args = parser.parse_args(argv)
    from .supervisor import Supervisor

    path, site = _load_site(args.site_config)
    return Supervisor(
        path,
        site,
        host=args.site_host,
        live_table=not args.no_table and sys.stdout.isatty(),
    ).run()


def cmd_hub(argv: list[str]) -> int:
    parser = _site_parser("hub", "Run the hub (crossbar) for the site config's realm.")
    parser.add_argument(
        "--dir", help="folder for crossbar's files (default: var/hub beside the site config)"
    )
    parser.add_argument(
        "--listen",
        metavar="ADDRESS",
        type=_ip_address,
        help="the address to listen on (default: the site config's hub.listen, else the "
        "address of hub.wamp_server's host; 0.0.0.0 is every interface)",
    )
    args = parser.parse_args(argv)
    import signal

    from .hub import Hub
    from .site_config import runtime_dir

    path, site = _load_site(args.site_config)
    config = site.hub
    if args.listen:
        config = config.model_copy(update={"listen": args.listen})
    cbdir = Path(args.dir) if args.dir else runtime_dir(path) / "hub"
    try:
        cbdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot make the hub's folder {cbdir} ({e.strerror}): give --dir a folder this "
            "user may write (by default it is var/hub beside the site config)"
        ) from None
    hub = Hub(config, cbdir, log_level="info")
    # Before the start: a SIGTERM while crossbar starts stops it as one after does.
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        hub.start()
        print(f"hub running at {hub.url} (HTTP bridge {hub.http_url}); Ctrl-C stops it", flush=True)
        assert hub.process is not None
        return hub.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        hub.stop()


def _ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def cmd_config(argv: list[str]) -> int:
    parser = _site_parser("config", "Check the site config.")
    parser.add_argument("action", choices=["check"])
    parser.add_argument(
        "file", nargs="?", metavar="PATH", help="the site config to check (as --site-config)"
    )
    args = parser.parse_args(argv)
    from .runner import agent_classes

    path, site = _load_site(args.file or args.site_config)
    known = agent_classes()
    for host_name, host in site.hosts.items():
        for inst in host.agent_instances:
            if inst.agent_class not in known:
                raise UserError(
                    f"{path}: host {host_name!r}, instance {inst.instance_id!r}: unknown "
                    f"agent-class {inst.agent_class!r}; installed: {sorted(known)}"
                )
    simulators = entry_points("socs_like.simulators")
    for host_name, host in site.hosts.items():
        for sim in host.simulators:
            if sim.name not in simulators:
                raise UserError(
                    f"{path}: host {host_name!r}: unknown simulator {sim.name!r}; "
                    f"installed: {sorted(simulators)}"
                )
    from .site_config import SiteConfigError
    from .supervisor import host_specs

    for host_name in site.hosts:
        try:
            # every child `up` would start there, each agent's arguments read as it will
            host_specs(path, site, host_name, control=Path("control"))
        except SiteConfigError as exc:
            raise UserError(str(exc)) from None
    count = sum(len(h.agent_instances) for h in site.hosts.values())
    print(
        f"{path}: OK ({len(site.hosts)} hosts, {count} agent instances, "
        f"hub {site.hub.wamp_server}, realm {site.hub.wamp_realm})"
    )
    return 0


# --- talking to agents ------------------------------------------------------------------------


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_call(argv: list[str]) -> int:
    parser = _site_parser("call", "Call an operation. A task starts and waits by default.")
    parser.add_argument("instance_id")
    parser.add_argument("op")
    parser.add_argument(
        "words",
        nargs="*",
        metavar="[ACTION] [key=value ...]",
        help="action (start, stop, abort, wait, status) and parameters; "
        'values are JSON where they parse (5, true, "x"), else text',
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call (10)")
    parser.add_argument("--http", action="store_true", help="use the HTTP bridge, not WAMP")
    _ca_argument(parser)
    parser.add_argument(
        "--full", action="store_true", help="print session data whole (default: 300 characters)"
    )
    args = parser.parse_args(argv)
    from .client import Client, ClientError, run_sync
    from .ops import ResponseCode

    words = list(args.words)
    action = words.pop(0) if words and "=" not in words[0] else None
    params: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise UserError(f"parameters are key=value, not {word!r}")
        params[key] = _parse_value(value)
    try:
        client = Client(
            args.instance_id,
            args.site_config,
            timeout=args.timeout,
            transport="http" if args.http else "wamp",
            **_ca_option(args),
        )
        api = client.get_api()
        kinds = {name: "task" for name, _, _ in api["tasks"]}
        kinds |= {name: "process" for name, _, _ in api["processes"]}
        if args.op not in kinds:
            raise UserError(
                f"{args.instance_id} has no operation {args.op!r}; it has {sorted(kinds)}"
            )
        action = action or ("run" if kinds[args.op] == "task" else "status")
        if action == "run":

            def progress(reply: Any) -> None:
                last = reply.session.get("messages", [[0, ""]])[-1][1]
                print(f"  ... {args.op} {reply.session.get('status')}: {last}", file=sys.stderr)

            reply = run_sync(client.aclient.run_task(args.op, params, progress, poll=2.0))
        elif action in ("start", "stop", "abort", "wait", "status"):
            reply = client.request(
                action, args.op, params or None, timeout=args.timeout if action == "wait" else None
            )
        else:
            raise UserError(f"unknown action {action!r}: start, stop, abort, wait or status")
    except ClientError as exc:
        raise UserError(str(exc)) from None
    _print_reply(reply, full=args.full)
    if reply.status != ResponseCode.OK:
        return 1
    return 0 if reply.session.get("success") is not False else 1


def _print_reply(reply: Any, full: bool = False) -> None:
    from .ops import ResponseCode

    print(f"{ResponseCode(reply.status).name}: {reply.msg}")
    s = reply.session
    if s:
        outcome = "" if s.get("success") is None else (" succeeded" if s["success"] else " FAILED")
        print(f"  {s.get('op_name')}[session {s.get('session_id')}] {s.get('status')}{outcome}")
        for t, text in s.get("messages", [])[-5:]:
            print(f"  {time.strftime('%H:%M:%S', time.localtime(t))} {text}")
        if s.get("data"):
            text = json.dumps(s["data"], indent=2 if full else None)
            cut = not full and len(text) > 300
            print(f"  data: {text if not cut else text[:300] + ' ... (--full shows all)'}")


def cmd_status(argv: list[str]) -> int:
    parser = _site_parser(
        "status",
        "One row per agent (class, heartbeat age, running operations, last failure); "
        "with an ID, every operation of that agent.",
    )
    parser.add_argument("instance_id", nargs="?", help="one agent (default: every configured one)")
    parser.add_argument("--timeout", type=float, default=3.0)
    _ca_argument(parser)
    args = parser.parse_args(argv)
    from rich.console import Console

    from .client import run_sync
    from .site_config import find_site_config, read_site_config_or_warn
    from .status import operations, overview

    path = find_site_config(args.site_config)
    if path is None:
        raise UserError(NO_SITE_CONFIG)
    site = read_site_config_or_warn(path, "status")  # state is read while the file is fixed
    ids = (
        [args.instance_id]
        if args.instance_id
        else [i.instance_id for h in site.hosts.values() for i in h.agent_instances]
    )
    views = run_sync(_look_at_agents(site, str(path), ids, args.timeout, _ca_option(args)))
    console = Console()
    if args.instance_id and views[0].api is not None:
        console.print(operations(views[0]))
    else:
        title = f"{site.hub.address_root} @ {site.hub.wamp_server}"
        console.print(overview(views, title, width=console.width))
    return 1 if any(v.api is None for v in views) else 0


async def _look_at_agents(
    site: Any, site_path: str, ids: list[str], timeout: float, options: dict[str, Any]
) -> list[Any]:
    """get_api of each agent, and the age of its last heartbeat: seen live, else as the
    site's Registry last saw it, so a live but late or frozen agent shows how long it has
    been silent. An agent that answered get_api and that the Registry did not see beat just
    now gets two beats' time from the moment the subscription holds
    (`status.beats_to_wait_for`)."""
    import asyncio

    from .client import AsyncClient, ClientError
    from .status import AgentView, beats_to_wait_for, registry_beats

    hub = site.hub
    beats: dict[str, float] = {}
    waiting = set(ids)  # until the get_api answers and the Registry's sightings say better
    all_seen = asyncio.Event()

    def beat(payload: Any, feed_info: dict[str, Any] | None = None) -> None:
        address = (feed_info or {}).get("agent_address", "")
        beats[address.rpartition(".")[2]] = time.monotonic()
        if beats.keys() >= waiting:
            all_seen.set()

    # the hub, its CA bundle and this host's credentials, as the site config says
    watcher = AsyncClient.from_site("status", site_path, timeout=timeout, **options)
    subscribed = True
    try:
        await watcher.subscribe(f"{hub.address_root}..feeds.heartbeat", beat, match="wildcard")
    except ClientError:  # no heartbeats to show or wait for; get_api says the rest
        subscribed = False
    listening = time.monotonic()

    async def look(instance_id: str) -> AgentView:
        try:
            api = await watcher.call(f"{hub.address_root}.{instance_id}", "get_api")
            return AgentView(instance_id, api)
        except ClientError as exc:
            return AgentView(instance_id, None, str(exc))

    async def registry_sightings() -> dict[str, float]:
        # asked alongside the get_api calls: a call that times out may cost the connection
        registries = [
            i.instance_id
            for h in site.hosts.values()
            for i in h.agent_instances
            if i.agent_class == "Registry"
        ]
        with contextlib.suppress(ClientError, ValueError, TypeError, AttributeError):
            if registries:
                _, _, session = await watcher.call(
                    f"{hub.address_root}.{registries[0]}.ops", "status", "main", None
                )
                return registry_beats(session.get("data") or {}, hub.address_root)
        return {}

    views, sightings = await asyncio.gather(
        asyncio.gather(*(look(i) for i in ids)), registry_sightings()
    )
    waiting = beats_to_wait_for(views, sightings, time.time()) if subscribed else set()
    if not beats.keys() >= waiting:
        with contextlib.suppress(TimeoutError):
            remaining = 2.2 - (time.monotonic() - listening)
            await asyncio.wait_for(all_seen.wait(), max(0.0, remaining))
    last_seen = sightings | {i: time.time() - (time.monotonic() - t) for i, t in beats.items()}
    await watcher.close()
    now = time.time()
    return [
        AgentView(
            v.instance_id,
            v.api,
            v.error,
            max(0.0, now - last_seen[v.instance_id]) if v.instance_id in last_seen else None,
        )
        for v in views
    ]


def cmd_feed(argv: list[str]) -> int:
    parser = _site_parser("feed", "Print a feed's events as they arrive (Ctrl-C stops).")
    parser.add_argument("instance_id")
    parser.add_argument("feed")
    parser.add_argument("--count", type=int, default=0, help="stop after N events (0: never)")
    _ca_argument(parser)
    args = parser.parse_args(argv)
    import threading

    from .client import AsyncClient, ClientError, run_sync

    done = threading.Event()
    seen = 0

    def show(payload: Any, feed_info: dict[str, Any] | None = None) -> None:
        nonlocal seen
        seen += 1
        seq = (feed_info or {}).get("seq_no")
        print(f"{time.strftime('%H:%M:%S')} #{seq} {json.dumps(payload)[:500]}", flush=True)
        if args.count and seen >= args.count:
            done.set()

    try:
        client = AsyncClient.from_site(args.instance_id, args.site_config, **_ca_option(args))
        run_sync(client.subscribe(args.feed, show), 15)
    except ClientError as exc:
        raise UserError(str(exc)) from None
    done.wait()
    return 0


HANDLERS: dict[str, Handler] = {
    "up": cmd_up,
    "hub": cmd_hub,
    "call": cmd_call,
    "status": cmd_status,
    "feed": cmd_feed,
    "config": cmd_config,
    **COMMANDS,
}
