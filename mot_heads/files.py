"""Reading input files safely and writing result files completely.

- :func:`read_text`: a regular file's UTF-8 text; a FIFO, a device or undecodable bytes
  are an :class:`InputError` naming the file, never a hang or an anonymous error.
- :func:`atomic_write` / :func:`atomic_path`: a result file appears under its name only
  when it is complete (written to a temporary name in the same folder, then renamed), so
  an interrupted run never leaves a half-written file or replaces a complete one;
  :func:`temporary_path` when the writer renames the file itself.
- :func:`writable_folder`: the output folder, created and checked before the work starts.
- :class:`FolderLock`: one run at a time writes into a folder.
"""
import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from typing import IO, Iterator

from .errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def check_regular_file(path: str, what: str = "file") -> None:
    """Raise unless ``path`` is an existing regular file (not a FIFO, device or folder)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise InputError(f"{path}: expected a {what}, got {kind}")


def read_text(path: str, what: str = "file") -> str:
    """The UTF-8 text of the regular file ``path`` (see the module doc)."""
    check_regular_file(path, what)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r}); "
                         f"expected a text {what}") from None


def _temporary_name(path: str) -> str:
    """A new, hidden name beside ``path`` with the same extension (writers that pick the
    format from the extension, such as OpenCV's and matplotlib's, still see it)."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    fd, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".writing{ext}", dir=folder)
    os.close(fd)
    os.chmod(temporary, 0o666 & ~_UMASK)  # as open() would create it, not mkstemp's owner-only 0o600
    return temporary


@contextlib.contextmanager
def temporary_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` for a file the block renames into place itself (under
    a name it may choose late); whatever is left under it when the block ends, however it
    ends, is removed. Parent folders are created."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = _temporary_name(path)
    try:
        yield temporary
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path to write ``path``'s content to; renamed to ``path`` when the block
    ends normally, removed when it raises (including ``KeyboardInterrupt``). Parent folders
    are created."""
    with temporary_path(path) as temporary:
        yield temporary
        os.replace(temporary, path)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """``open(path, mode)`` that only replaces ``path`` once the block completes (see
    :func:`atomic_path`)."""
    with atomic_path(path) as temporary, open(temporary, mode, **open_kwargs) as f:
        yield f


def writable_folder(folder: str, what: str = "output folder") -> str:
    """Create ``folder`` if needed and check that files can be created in it; raise an
    :class:`InputError` naming it otherwise. Returns ``folder``."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"{folder}: the {what} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise InputError(f"{folder}: cannot write to the {what} ({e.strerror})") from None
    return folder


class FolderLock:
    """An exclusive lock on ``folder`` (a ``.lock`` file in it, held with ``flock`` and
    released when the process ends, however it ends); a second holder gets an
    :class:`InputError`. ``owner`` names the kind of run in that message."""

    def __init__(self, folder: str, owner: str):
        self.path, self.owner = os.path.join(folder, ".lock"), owner
        self._file = None

    def __enter__(self) -> "FolderLock":
        self._file = open(self.path, "a")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            self._file.close()
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise InputError(f"{os.path.dirname(self.path)}: another {self.owner} run is writing to this "
                                 "folder; wait for it to end or choose another output folder") from None
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()  # closing releases the lock
