"""HostManager: the remote face of `socs-like up` on one host."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from socs_like import Agent, OpSession, param
from socs_like.backoff import Backoff

from . import control, ocs_api, options
from .control import HostManagerError
from .models import ManagerData


class HostManager:
    """HostManager: lists, starts, stops and restarts this host's agents and simulators.

    Process ``manager`` (started at start-up) follows the supervisor: its session data holds
    ``instances`` (instance id → state, pid, uptime, restarts, last error line, ...) and each
    change but the uptimes' moving on is published on the feed ``states``. Tasks ``start``,
    ``stop``, ``restart`` take ``instance_id`` (or ``all``); task ``reload`` re-reads the
    site config.

    OCS's API is offered beside ours, for ``ocsbow`` (`ocs_api`): ``manager``'s session data
    also holds ``child_states``, and it takes OCS's ``requests`` and ``reload_config``; task
    ``update`` sets target states, task ``die`` makes this agent exit.
    """

    Options = options.Options

    def __init__(self, agent: Agent, settings: options.Options) -> None:
        self.agent = agent
        self.path: Path = settings.control
        self.host: str = agent.settings.site_host or ""  # `socs-like up` names it
        self.feed = agent.register_feed("states")
        self._published: dict[str, Any] | None = None  # the last states event, less uptimes
        agent.register_process("manager", self.manager, startup=True)
        agent.register_task("start", self.start)
        agent.register_task("stop", self.stop)
        agent.register_task("restart", self.restart)
        agent.register_task("reload", self.reload)
        agent.register_task("update", self.update)
        agent.register_task("die", self.die)

    @param("requests", type=list, default=[])
    @param("reload_config", type=bool, default=False)
    async def manager(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """manager(requests=[], reload_config=False): follow the supervisor's states until
        stopped; OCS's `requests` and `reload_config` are applied first, as ``update`` does."""
        if params["requests"] or params["reload_config"]:
            # Only then: without them it starts even while the supervisor is away.
            await self._update(session, params["requests"], params["reload_config"])
        session.set_status("running")
        follower = asyncio.ensure_future(self._follow(session))
        try:
            while not await session.sleep(3600):
                pass
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        return True, "Manager stopped."

    async def _follow(self, session: OpSession) -> None:
        backoff = Backoff(initial=0.2, cap=5.0)
        while True:
            try:
                async for instances in control.watch(self.path):
                    backoff.success()
                    self._show(session, instances)
            except HostManagerError as exc:
                session.add_message(f"{exc}; retrying")
                await asyncio.sleep(backoff.failure())

    def _data(self, instances: list[dict[str, Any]], **more: Any) -> ManagerData:
        return ManagerData(
            host=self.host,
            instances={i["instance_id"]: i for i in instances},
            child_states=ocs_api.child_states(instances),
            **more,
        )

    def _show(self, session: OpSession, instances: list[dict[str, Any]]) -> None:
        data = self._data(instances, timestamp=time.time())
        session.data = data.as_dict()
        by_id = data.instances
        # The supervisor refreshes every few seconds for the uptimes, which move on their own:
        # only a change of anything else is news for the feed (the session data has them).
        news = {i: {k: v for k, v in s.items() if k != "uptime"} for i, s in by_id.items()}
        if news != self._published:
            self._published = news
            self.feed.publish({"timestamp": time.time(), "host": self.host, "instances": by_id})

    async def _do(self, session: OpSession, op: str, **fields: Any) -> dict[str, Any]:
        answer = await control.request(self.path, op, **fields)
        session.data = self._data(answer["instances"]).as_dict()
        return answer

    async def _update(self, session: OpSession, requests: Any, reload_config: bool) -> None:
        """OCS's update: re-read the site config if asked, then reach the requested targets.
        Malformed `requests` change nothing; ignored ones are said in OCS's words."""
        pairs = ocs_api.parse_requests(requests)
        answer = await self._do(session, "reload" if reload_config else "list")
        known = [s["instance_id"] for s in ocs_api.child_states(answer["instances"])]
        plan = ocs_api.plan(pairs, known)
        for text in plan.ignored:
            session.add_message(text)
        if plan.targets:
            asked = plan.requests()
            await asyncio.gather(*(control.request(self.path, op, id=i) for op, i in asked))
            await self._do(session, "list")

    @param("instance_id", type=str)
    async def start(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """start(instance_id): start an instance (or ``all``) that is not running."""
        await self._do(session, "start", id=params["instance_id"])
        return True, f"Started {params['instance_id']}."

    @param("instance_id", type=str)
    async def stop(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """stop(instance_id): stop an instance (or ``all``) and keep it stopped."""
        await self._do(session, "stop", id=params["instance_id"])
        return True, f"Stopped {params['instance_id']}."

    @param("instance_id", type=str)
    async def restart(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """restart(instance_id): stop then start an instance (or ``all``)."""
        await self._do(session, "restart", id=params["instance_id"])
        return True, f"Restarted {params['instance_id']}."

    async def reload(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """reload(): re-read the site config; refused with its error, nothing changed."""
        answer = await self._do(session, "reload")
        changes = {k: answer[k] for k in ("added", "removed", "changed")}
        session.data = self._data(answer["instances"], **changes).as_dict()
        return True, (
            f"Reloaded: added {answer['added']}, removed {answer['removed']}, "
            f"changed {answer['changed']}."
        )

    @param("requests", type=list, default=[])
    @param("reload_config", type=bool, default=False)
    async def update(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """update(requests=[], reload_config=False): OCS's task. Each request is
        ``(instance_id or 'all', 'up'|'down')``, taken in order; up starts, down stops; with
        `reload_config` the site config is re-read first (as ``reload``)."""
        await self._update(session, params["requests"], params["reload_config"])
        return True, "Update requested."

    @param("disown_dockers", type=bool, default=False)
    async def die(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """die(disown_dockers=False): OCS's task: this agent exits about a second later (its
        reply gets out first) and its agents keep running; `socs-like up` starts it again by
        its restart policy. `disown_dockers` changes nothing: no docker container is ours."""
        asyncio.get_running_loop().call_later(1.0, self.agent.shutdown)
        return True, "This HostManager should terminate in about 1 second."
