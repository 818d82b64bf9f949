"""The agent runtime, one concern a module; `socs_like.agent.Agent` wires them together.

An ops call's way: WAMP ``<address>.ops`` -> `Agent._ops_rpc` (reads the caller's role) ->
`Agent.ops_handler` (the in-process driver enters here) -> `dispatch.OpsDispatch.handle`
(access check, then the action) -> `operations.Operations` (sessions, running the op).

- `operations`: the registered operations, their sessions, running and stopping them;
- `dispatch`: the ops RPC's actions, behind one access check, answered ``[code, msg, session]``;
- `pushes`: session changes pushed on the ``sessions`` feed;
- `scheduler`: which feed events go out this loop turn (the publish budget);
- `publish`: putting events on the hub, held until it acknowledges them;
- `pacer`: the loop that runs the per-second beat and each publishing turn;
- `heartbeat`, `loop_health`: the heartbeat feed, and the event loop's lag;
- `hub_session`: joining the hub, re-joining it, and giving up on it.
"""
