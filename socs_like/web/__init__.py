"""The web dashboard (`socs-like web`): one page, a JSON API and a live event stream.

The server is a hub client like any other: it follows every agent's heartbeat and pushed
sessions, the registry's verdicts and the feeds, and passes operators' start/stop/abort
requests to the agents. `state` holds what it knows (no I/O), `forms` reads operations'
declared parameters, `hub` keeps the hub connection, `server` is the aiohttp application,
`cli` the command and `process` runs it as a child (tests, benchmarks). The page and its
panels are plain files under `static/`, served as they are.
"""
