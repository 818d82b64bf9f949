"""Test support: real hub, real agent processes, clients, sshd, PostgreSQL (a pytest plugin)."""
