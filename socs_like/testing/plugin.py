"""The pytest plugin, registered by entry point: each module below adds its fixtures."""

pytest_plugins = [
    "socs_like.testing.hub",
    "socs_like.testing.inprocess",
    "socs_like.testing.sshd",
    "socs_like.testing.postgres",
    "socs_like.testing.influxdb",
    "socs_like.testing.database",
    "socs_like.testing.browser",
    "socs_like.testing.netns",
]
