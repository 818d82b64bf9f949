"""Inner packet ids guiServer writes on operation channels, one vocabulary per operation.

Each operation of guiServer (one source file each) numbers its own progress packets; the same
number means different things in different operations (101 ends a DifxStart cleanly, 301 starts
a directory read). The README's protocol reference lists, per operation, which codes come and
which one ends the channel. Operations not listed here (ls, file transfer, vex2difx) write raw
bytes, not inner packets: see `raw`.
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


# Codes that end a DifxStart channel after a run, and whether the job counts as done. 120
# ("ended with errors") is an end: the server closes after it. 128 (stopped after the config
# check) ends it too, well or badly depending on the check (see `jobcontrol.StartTracker`).
# 124 (bad config) and 126 (config command not found) are not ends: the server goes on and
# runs the job unless told to bail.
START_END: dict[int, bool] = {
    StartCode.ENDED_GRACEFULLY: True,
    StartCode.JOB_ENDED_WITH_ERRORS: False,
    StartCode.JOB_FAILED: False,
    StartCode.TERMINATED: False,
}


class MachinesCode(enum.IntEnum):
    """DifxMachinesDefinition progress on its channel."""

    TERMINATED = 100
    ENDED_GRACEFULLY = 101
    STARTED = 102
    PARAMETER_CHECK_IN_PROGRESS = 103
    PARAMETER_CHECK_SUCCESS = 104
    FAILURE_NO_HEADNODE = 105
    FAILURE_NO_DATASOURCES = 106
    FAILURE_NO_PROCESSORS = 107
    WARNING_NO_MACHINES_FILE_SPECIFIED = 108
    WARNING_NO_THREADS_FILE_SPECIFIED = 109
    THREADS_FILE_NAME = 110
    MACHINES_FILE_NAME = 111
    FAILURE_NO_FILES_SPECIFIED = 112
    FAILURE_OPEN_MACHINES_FILE = 113
    FAILURE_OPEN_THREADS_FILE = 114
    MACHINES_FILE_CREATED = 115
    THREADS_FILE_CREATED = 116
    FAILURE_FILE_REMOVAL = 117
    FAILURE_POPEN = 118
    FAILURE_MPIRUN = 119
    SUCCESS_MPIRUN = 120
    LOW_THREAD_COUNT = 121
    RUNNING_MPIRUN_TESTS = 122


class JobStatusCode(enum.IntEnum):
    """GET_JOB_STATUS (packet 24) replies on its channel."""

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


class FileListCode(enum.IntEnum):
    """GENERATE_FILELIST (packet 23) replies on its channel."""

    TERMINATED = 100
    ENDED_GRACEFULLY = 101
    STARTED = 102
    DESTINATION_EXISTS = 103  # the server now reads an int32 answer from the client
    FINAL_NAME = 104
    PATH_ACCESS_FAILURE = 105
    OVERWRITE = 106  # our answer to 103: go on
    CANCEL = 107  # our answer to 103: stop
    OPEN_ERROR = 108
    BAD_FORMAT = 109
    PROCESSED_COUNT = 110  # payload: the count as a binary int32
    FILE_RESULT = 111
    ERRORS_ENCOUNTERED = 112


class DirectoryCode(enum.IntEnum):
    """DifxGetDirectory and DifxMark5Copy replies (they share the 3xx numbering)."""

    STARTED = 301
    COMPLETED = 302
    FULLPATH = 303
    FAILED = 304
    MPIRUN_ERROR = 305
    NO_ENVIRONMENT_VARIABLE = 306
    DATE = 307
    FILE_NOT_FOUND = 308
    FILESTART = 309
    FILEDATA = 310
    GENERATE_STARTED = 311
    GENERATE_INFO = 312  # also one line of Mark5Copy output
    GENERATE_COMPLETED = 313
    GENERATE_ERRORS = 314  # also "Mark5Copy had errors"


class Mk5Code(enum.IntEnum):
    """DifxMk5Control replies."""

    ENDED_GRACEFULLY = 101
    STARTED = 102
    INFORMATION = 108
    ERROR = 110


# Raw replies of a file get / send: the int32 that precedes the bytes, when negative.
GET_FAILURES: dict[int, str] = {
    -1: "origin is not an absolute path",
    -2: "file not found",
    -3: "no read permission",
    -4: "unknown user on the DiFX host",
}
SEND_FAILURES: dict[int, str] = {
    -1: "destination is not an absolute path",
    -2: "destination directory does not exist",
    -3: "no write permission",
    -4: "unknown user on the DiFX host",
    -5: "parent of the destination is not a directory",
}


def code_name(enum_type: type[enum.IntEnum], code: int) -> str:
    """`code`'s name in `enum_type`, lower case with spaces, or "code N" if unknown."""
    try:
        return enum_type(code).name.lower().replace("_", " ")
    except ValueError:
        return f"code {code}"
