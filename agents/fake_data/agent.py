"""FakeData: a stand-in for a data acquisition agent, for demos, tests and benchmarks."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from socs_like import Agent, OpSession, param

from . import options
from .models import AcqData, DelayData, FillData, TemperatureBlock

_STEP = 0.1 * 12**0.5  # uniform steps in [-0.5, 0.5) times this have a standard deviation of 0.1
# Values (samples x channels) made in one loop turn at most (~5 ms of work, in numpy, packed
# by the feed as they are): a faster rate is made in several turns, so the agent's feeds,
# pings and calls get their turns in between.
MAX_TURN_VALUES = 200_000
# Further behind than this (s), acquisition gives up on the missed samples and says so
# (samples_skipped): asked for more than it can make, it makes what it can, in real time.
MAX_BEHIND = 1.0
# While more than this (estimated bytes) waits in the feed for the hub, acquisition makes
# nothing: what the hub cannot take would only be dropped, and making it takes the CPU that
# the agent (and, on a small machine, the hub) needs to send what is already made.
MAX_BACKLOG = 4 * 1024 * 1024
# How long acquisition waits for a backlog to go: a frame (0.1 s) held 10^6 samples/s to
# one backlog (35 000 samples) a frame.
BACKLOG_PAUSE = 0.01


class FakeData:
    """Fake data: a recorded feed of random-walk channels, and tasks to exercise the framework.

    Operations: process ``acq`` (publishes ``false_temperatures``), task ``delay_task``
    (waits, abortable), task ``set_heartbeat`` (pauses the heartbeat, as OCS's does), task
    ``fill_session`` (puts N bytes in session data, to try size limits), task ``block_loop``
    (blocks the event loop, to try loop-health reporting).
    """

    Options = options.Options

    def __init__(self, agent: Agent, settings: options.Options) -> None:
        self.agent = agent
        self.channels = [f"channel_{i:02d}" for i in range(settings.num_channels)]
        self.sample_rate = settings.sample_rate
        self.frame_length = settings.frame_length
        self.feed = agent.register_feed(
            "false_temperatures",
            record=True,
            buffer_time=0.1,
            agg_params={"frame_length": 60},
            max_buffer=1_000_000,
        )
        agent.register_process("acq", self.acq, startup=settings.mode == "acq")
        agent.register_task("delay_task", self.delay_task, abortable=True)
        agent.register_task("set_heartbeat", self.set_heartbeat)
        agent.register_task("fill_session", self.fill_session)
        agent.register_task("block_loop", self.block_loop)

    @param("sample_rate", type=float, default=None, check=lambda r: r is None or 0 < r <= 1e7)
    async def acq(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """acq(sample_rate=None): publish random-walk samples until stopped."""
        rate = params["sample_rate"] or self.sample_rate
        session.set_status("running")
        values = dict.fromkeys(self.channels, 0.0)
        rng = np.random.default_rng()
        sent = skipped = 0
        per_turn = max(1, MAX_TURN_VALUES // max(1, len(self.channels)))
        next_t = time.time()
        while True:
            now = time.time()
            if now - next_t > MAX_BEHIND:
                missed = int((now - next_t - self.frame_length) * rate)
                skipped += missed
                next_t += missed / rate
            backlogged = self.feed.pending_bytes > MAX_BACKLOG
            n = 0 if backlogged else min(int((now - next_t) * rate), per_turn)
            if n > 0:
                stamps = next_t + np.arange(n) / rate
                next_t += n / rate
                # Random walks from uniform steps of standard deviation 0.1, made in numpy
                # and handed to the feed as arrays, which it packs as they are: one Python
                # float per value cost a core at 10^6 samples/s on 4 channels.
                start = np.array([values[c] for c in self.channels])[:, None]
                steps = (rng.random((len(self.channels), n)) - 0.5) * _STEP
                walks = np.cumsum(steps, axis=1) + start
                data = dict(zip(self.channels, walks, strict=True))
                for c, walk in data.items():
                    values[c] = float(walk[-1])
                self.feed.publish(TemperatureBlock(stamps, data).as_dict())
                sent += n
                session.data = AcqData(
                    fields={c: {"T": values[c]} for c in self.channels},
                    timestamp=now,
                    samples_sent=sent,
                    samples_skipped=skipped,
                    feed_dropped=self.feed.dropped,
                    feed_drop_rate=self.feed.drop_rate,
                ).as_dict()
            if backlogged:
                pause = BACKLOG_PAUSE  # the hub takes a backlog in far less than a frame
            elif n == per_turn:
                pause = 0  # more to make at once, after the loop's other work
            else:
                # all made until now: wait a whole frame, so that a turn's work (session
                # data, the feed's bookkeeping) is shared by as many samples as it can; at
                # most a turn's samples, though: a frame's samples are made at its end, so
                # a longer frame only makes them older when they go out
                pause = max(min(self.frame_length, per_turn / rate), 1.0 / rate)
            if await session.sleep(pause):
                break
        return True, f"Acquisition stopped after {sent} samples."

    @param("delay", type=float, default=5.0, check=lambda d: 0 <= d <= 3600)
    @param("succeed", type=bool, default=True)
    async def delay_task(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """delay_task(delay=5, succeed=True): wait `delay` seconds (abortable)."""
        session.set_status("running")
        session.data = DelayData(params["delay"]).as_dict()
        if await session.sleep(params["delay"]):
            return False, "Aborted after a partial delay."
        return params["succeed"], f"Exited after {params['delay']} seconds."

    @param("enabled", type=bool, default=True)
    async def set_heartbeat(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """set_heartbeat(enabled=True): pause or resume the heartbeat (to try a registry)."""
        self.agent.heartbeat_enabled = params["enabled"]
        return True, f"Heartbeat {'on' if params['enabled'] else 'off'}."

    @param("size", type=int, check=lambda n: 0 <= n <= 100_000_000)
    async def fill_session(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """fill_session(size): put `size` bytes of text in session data."""
        session.data = FillData("x" * params["size"], math.pi).as_dict()
        return True, f"Session data holds {params['size']} bytes."

    @param("seconds", type=float, check=lambda s: 0 <= s <= 60)
    async def block_loop(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """block_loop(seconds): block the event loop for `seconds` (to try loop health)."""
        time.sleep(params["seconds"])  # on purpose: what a badly written op does
        return True, f"Blocked the loop for {params['seconds']} seconds."
