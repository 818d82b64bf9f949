"""RunPipeline's error root. A foreseen failure raised in an op ends its session failed with
the message and no traceback (``socs_like.OpFailed``)."""

from __future__ import annotations

from socs_like import OpFailed


class PipelineError(OpFailed):
    """Root of what the run pipeline raises on purpose."""


class RunNotFound(PipelineError):
    """No run of that name in the runs database."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no run named {name!r} in the runs database")


class BadRequest(PipelineError):
    """An operator asked for something the run's state does not allow, or gave bad values."""


class SubmitError(PipelineError):
    """The batch system refused a job, or answered something we cannot read."""


class HostUnreachable(PipelineError):
    """ssh could not reach a host, or lost it mid-command (its exit status 255, which rsync
    passes on): the network's doing, not the run's, so it costs the run no attempt."""
