"""Benchmark: what authentication costs (issue 10 targets).

Two real hubs side by side, one as every site runs it (WAMP-CRA, roles, the agent role's
dynamic authorizer) and one open as before (anonymous sessions with every right under the
root), each with a real FakeData agent process. Rounds alternate between the two, so load on
the machine hits both alike:

- op start+wait: ``start`` then ``wait`` of ``delay_task(delay=0)``, median over the rounds
  (target: authenticated ≤ 1.10 × open);
- join: connect and join the hub (WAMP-CRA challenge, salted key derivation at both ends and
  the authenticator, versus anonymous), median (target: the difference ≤ 50 ms, what
  authentication adds to an agent's start);
- agent start: spawn a FakeData process until it answers ``get_api``, median of a few
  (informative: mostly the interpreter's imports, the same for both).

    .venv/bin/python bench/bench_auth.py [--quick]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import bench_parser  # noqa: E402

from socs_like.client import AsyncClient, run_sync, wait_for_agent  # noqa: E402
from socs_like.hub import Hub  # noqa: E402
from socs_like.secrets import SECRETS_ENV  # noqa: E402
from socs_like.testing.hub import AgentProcess, HubInfo, spawn_agent, start_hub  # noqa: E402


class OpenHub(Hub):
    """The hub as it was before authentication: anonymous sessions may do everything."""

    def write_config(self) -> Path:
        path = super().write_config()
        config: dict[str, Any] = json.loads(path.read_text())
        worker = config["workers"][0]
        prefix = f"{self.config.address_root}."
        everything = {"call": True, "register": True, "publish": True, "subscribe": True}
        worker["realms"][0]["roles"].append(
            {
                "name": "open",
                "permissions": [
                    {
                        "uri": prefix,
                        "match": "prefix",
                        "allow": everything,
                        "disclose": {"caller": False, "publisher": False},
                        "cache": True,
                    }
                ],
            }
        )
        worker["transports"][0]["paths"]["ws"]["auth"] = {
            "anonymous": {"type": "static", "role": "open"}
        }
        path.write_text(json.dumps(config))
        return path


def start_open_hub(folder: Path) -> HubInfo:
    info = start_hub(folder)
    info.hub.stop()  # same site file and port, served by an open hub instead
    hub = OpenHub(info.hub.config, folder / "crossbar-open", port=info.port)
    hub.start(log_file=folder / "crossbar-open.log")
    return HubInfo(hub=hub, site_file=info.site_file)


def start_agent(hub: HubInfo, instance_id: str, log: Path, open_hub: bool) -> AgentProcess:
    """A FakeData process, returned once it answers ``get_api``."""
    env = {SECRETS_ENV: str(log.parent / "none.yaml")} if open_hub else None  # no file: anonymous
    proc = spawn_agent(hub, "FakeData", instance_id, log, env=env, wait=False)
    client = AsyncClient(instance_id, hub_url=hub.url, timeout=2, anonymous=open_hub)
    run_sync(wait_for_agent(client, 30), 40)
    run_sync(client.close(), 5)
    return proc


async def op_round(client: AsyncClient) -> float:
    started = time.perf_counter()
    reply = await client.request("start", "delay_task", {"delay": 0})
    assert reply.ok, reply
    done = await client.request("wait", "delay_task", timeout=10)
    assert done.session.get("success"), done
    return time.perf_counter() - started


async def join_once(hub: HubInfo, anonymous: bool) -> float:
    client = AsyncClient("x", hub_url=hub.url, timeout=10, anonymous=anonymous)
    started = time.perf_counter()
    await client._transport.connect()
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def main() -> int:
    parser = bench_parser(__doc__, "a short run (< 1 minute)")
    args = parser.parse_args()
    rounds, joins, starts = (200, 30, 2) if args.quick else (2000, 200, 6)
    work = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    authed = start_hub(work / "auth")
    opened = start_open_hub(work / "open")
    agents: list[AgentProcess] = []
    try:
        agents.append(start_agent(authed, "fd-bench", work / "auth.log", open_hub=False))
        agents.append(start_agent(opened, "fd-bench", work / "open.log", open_hub=True))
        auth_client = AsyncClient("fd-bench", hub_url=authed.url)
        open_client = AsyncClient("fd-bench", hub_url=opened.url, anonymous=True)
        op_times: dict[str, list[float]] = {"auth": [], "open": []}
        join_times: dict[str, list[float]] = {"auth": [], "open": []}

        async def measure() -> None:
            for _ in range(20):  # warm both paths up
                await op_round(auth_client)
                await op_round(open_client)
            for _ in range(rounds):
                op_times["auth"].append(await op_round(auth_client))
                op_times["open"].append(await op_round(open_client))
            for _ in range(joins):
                join_times["auth"].append(await join_once(authed, anonymous=False))
                join_times["open"].append(await join_once(opened, anonymous=True))
            await auth_client.close()
            await open_client.close()

        run_sync(measure(), 600)
        start_times: dict[str, list[float]] = {"auth": [], "open": []}
        for i in range(starts):
            for name, hub in (("auth", authed), ("open", opened)):
                began = time.perf_counter()
                proc = start_agent(hub, f"fd-start{i}", work / f"s{i}.log", name == "open")
                start_times[name].append(time.perf_counter() - began)
                proc.stop()
    finally:
        for agent in agents:
            agent.stop()
        authed.hub.stop()
        opened.hub.stop()

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    op_ratio = ms(op_times["auth"]) / ms(op_times["open"])
    join_extra = ms(join_times["auth"]) - ms(join_times["open"])
    print(
        f"op start+wait, median of {rounds}: authenticated {ms(op_times['auth']):.2f} ms, "
        f"open {ms(op_times['open']):.2f} ms, ratio {op_ratio:.3f} (target <= 1.10)"
    )
    print(
        f"join, median of {joins}: authenticated {ms(join_times['auth']):.1f} ms, "
        f"open {ms(join_times['open']):.1f} ms, +{join_extra:.1f} ms (target <= 50 ms)"
    )
    print(
        f"agent process start to get_api, median of {starts}: authenticated "
        f"{ms(start_times['auth']):.0f} ms, open {ms(start_times['open']):.0f} ms"
    )
    return 0 if op_ratio <= 1.10 and join_extra <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
