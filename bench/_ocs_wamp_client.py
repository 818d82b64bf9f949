"""OCS's own WAMP client path, for bench_core: time N start+wait of a task with `ocs.client_t`.

Run as a child process (it owns a Twisted reactor):

    python bench/_ocs_wamp_client.py URL REALM AGENT_ADDRESS OP_NAME N PARAMS_JSON

and prints one JSON line: {"times": [seconds, ...], "last": [code, message, session]}.
This is how an OCS control script talks to an agent (``ocs.client_t.ControlClientSession``
with a ``TaskClient``), so the figure is OCS's, client and agent alike.
"""

from __future__ import annotations

import json
import sys
import time

import txaio

txaio.use_twisted()

from autobahn.twisted.wamp import ApplicationRunner  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from ocs import client_t  # noqa: E402


def main() -> None:
    url, realm, address, op_name, n, params = sys.argv[1:7]
    count = int(n)
    op_params = json.loads(params)
    out: dict = {"times": []}

    def script(app, *_args):  # a generator: ControlClientSession yields from it
        task = client_t.TaskClient(app, address, op_name)
        for _ in range(3):  # warm up
            yield task.start(params=op_params)
            yield task.wait()
        for _ in range(count):
            t0 = time.perf_counter()
            yield task.start(params=op_params)
            out["last"] = yield task.wait()
            out["times"].append(time.perf_counter() - t0)

    session = client_t.ControlClientSession(ComponentConfig(realm, {}), script, [], {})
    ApplicationRunner(url, realm).run(session, auto_reconnect=False)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
