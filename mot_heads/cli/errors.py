"""Bad input to a command ends with one sentence on stderr and exit status 2."""
import contextlib
import sys

from trackers import RecordError

from ..data.mot_challenge import MOTFormatError

BAD_INPUT = (MOTFormatError, RecordError, FileNotFoundError, NotADirectoryError, KeyError, ValueError)


@contextlib.contextmanager
def exit_on_bad_input():
    """Turn the errors bad files or arguments raise into ``error: <message>`` and exit 2."""
    try:
        yield
    except BAD_INPUT as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
