"""The error that bad input raises: a file, an argument or a config key the user can fix.

Commands turn it into one sentence on stderr and exit status 2
(:func:`mot_heads.cli.errors.exit_on_bad_input`); any other exception is a bug and keeps
its traceback. It is a ``ValueError``, so callers of the library may catch either.
"""


class InputError(ValueError):
    """Bad input; the message is one sentence naming the file, option or key at fault."""
