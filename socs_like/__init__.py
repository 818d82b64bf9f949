"""socs_like: agents for running and watching data acquisition, wire-compatible with OCS."""
