"""Inner packet ids carried on operation channels.

`StartCode` and `JobStatusCode` are guiServer's own numbers (see specs/difx.md). guiServer
gives file operations, transfers, vex2difx and machine definitions no fixed channel
vocabulary of its own (the old clients read ad-hoc streams or waited on multicast alerts),
so those operations reply with the codes below, chosen in ranges guiServer does not use.
A client facing a server that never answers one of them still finishes: every wait has a
timeout that says what was and was not confirmed.
"""

import enum


class StartCode(enum.IntEnum):
    """DifxStart progress on its channel."""

    TERMINATED = 100
    ENDED_GRACEFULLY = 101
    STARTED = 102
    PARAMETER_CHECK_IN_PROGRESS = 103
    PARAMETER_CHECK_SUCCESS = 104
    FAILURE_NO_HEADNODE = 105
    FAILURE_NO_DATASOURCES = 106
    FAILURE_NO_PROCESSORS = 107
    FAILURE_NO_INPUTFILE_SPECIFIED = 108
    FAILURE_INPUTFILE_NOT_FOUND = 109
    FAILURE_INPUTFILE_NAME_TOO_LONG = 110
    FAILURE_OUTPUT_EXISTS = 111
    DELETING_PREVIOUS_OUTPUT = 112
    STARTING_DIFX = 113
    DIFX_MESSAGE = 114
    DIFX_WARNING = 115
    DIFX_ERROR = 116
    DIFX_COMPLETE = 117
    DATA_FILE_SIZE = 118
    JOB_FAILED = 119
    JOB_ENDED_WITH_ERRORS = 120
    DIFX_MONITOR_CONNECTION_ACTIVE = 121
    DIFX_MONITOR_CONNECTION_BROKEN = 122
    DIFX_MONITOR_CONNECTION_FAILED = 123
    FAILURE_BAD_CONFIG_FILE = 124
    SUCCESSFUL_CONFIG_FILE = 125
    CONFIG_COMMAND_NOT_FOUND = 126
    RUNNING_CONFIG_CHECK = 127
    STOPPED_AFTER_CONFIG = 128
    NOT_RESPONDING = 129


# Codes after which a DifxStart has failed; the session ends with the reason.
START_FAILURES = frozenset(
    {
        StartCode.TERMINATED,
        StartCode.FAILURE_NO_HEADNODE,
        StartCode.FAILURE_NO_DATASOURCES,
        StartCode.FAILURE_NO_PROCESSORS,
        StartCode.FAILURE_NO_INPUTFILE_SPECIFIED,
        StartCode.FAILURE_INPUTFILE_NOT_FOUND,
        StartCode.FAILURE_INPUTFILE_NAME_TOO_LONG,
        StartCode.FAILURE_OUTPUT_EXISTS,
        StartCode.JOB_FAILED,
        StartCode.JOB_ENDED_WITH_ERRORS,
        StartCode.FAILURE_BAD_CONFIG_FILE,
        StartCode.CONFIG_COMMAND_NOT_FOUND,
        StartCode.NOT_RESPONDING,
    }
)
START_SUCCESSES = frozenset({StartCode.ENDED_GRACEFULLY, StartCode.STOPPED_AFTER_CONFIG})


class JobStatusCode(enum.IntEnum):
    """GET_JOB_STATUS replies on its channel."""

    ENDED_GRACEFULLY = 101
    STARTED = 102
    INPUT_FILE = 104
    NO_DIFXLOG = 105
    STATUS = 106
    OPEN_ERROR = 107
    NO_STATUS = 108
    TERMINATED = 109
    TIME_STRING = 110
    FORK_FAILED = 111


class OpCode(enum.IntEnum):
    """Replies of file operations, transfers, vex2difx and machine definitions (ours)."""

    LS_ENTRY = 200  # one path per packet
    DONE = 201  # optional text: what was done
    FAILED = 202  # text: why
    OUTPUT = 203  # a line of the command's output
    FILE_SIZE = 300  # int32 byte count of the file that follows
    FILE_DATA = 301  # a chunk of file content (either direction)
    NEW_INPUT_FILE = 400  # vex2difx wrote this .input
    NEW_IM_FILE = 401  # calc wrote this .im
    MACHINES_FILE = 500  # path of a .machines written
    THREADS_FILE = 501  # path of a .threads written
