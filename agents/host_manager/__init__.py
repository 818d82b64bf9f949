"""HostManager: the remote face of `socs-like up` (see its README)."""
