"""Bad input to a command ends with one sentence on stderr and exit status 2; any other
exception is a bug and keeps its traceback."""
import contextlib
import sys

from trackers import ParamError, RecordError

from ..errors import InputError

# InputError covers the file format errors (MOTFormatError, SOTFormatError); the OSErrors
# are those about the user's files and folders.
BAD_INPUT = (InputError, RecordError, ParamError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
             PermissionError)


@contextlib.contextmanager
def exit_on_bad_input():
    """Turn the errors that bad files, arguments or config keys raise (:data:`BAD_INPUT`)
    into ``error: <message>`` and exit 2."""
    try:
        yield
    except BAD_INPUT as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
