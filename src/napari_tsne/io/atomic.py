"""Atomic file replacement and the error types of :mod:`napari_tsne.io`.

Every writer in this package goes through :func:`atomic_path`: the data is
written to a temporary file next to the target, flushed to disk, and only then
moved over the target with :func:`os.replace`.  A reader therefore sees either
the complete old file or the complete new one, never a half-written file, and
a failed write (full disk, no permission, an error in the writer) leaves the
original untouched and removes the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DataReadError", "DataWriteError", "atomic_path", "describe_os_error"]


class DataReadError(ValueError):
    """A data file could not be read; the message says why and what to do."""


class DataWriteError(OSError):
    """A file could not be written; the message says why and what to do.

    When the failure came from the operating system, ``errno`` holds its code
    (e.g. ``errno.ENOSPC`` for a full disk).
    """

    def __init__(self, message: str, *, errno_code: int | None = None) -> None:
        super().__init__(message)
        if errno_code is not None:
            self.errno = errno_code


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def describe_os_error(err: OSError, target: str | os.PathLike[str]) -> str:
    """A readable sentence for an :class:`OSError` raised while writing *target*."""
    target = Path(target)
    folder = target.parent
    code = getattr(err, "errno", None)
    if code in _NO_SPACE:
        return (
            f"Could not save {target}: there is not enough free disk space in {folder}. "
            "Free up some space or save to another drive; no existing file was changed."
        )
    if code in _NO_PERMISSION:
        return (
            f"Could not save {target}: no permission to write in {folder} "
            "(it may be read-only). Choose a folder you can write to."
        )
    if code == errno.ENOENT and not folder.is_dir():
        return (
            f"Could not save {target}: the folder {folder} does not exist. "
            "Create it first or choose another folder."
        )
    reason = err.strerror or str(err) or type(err).__name__
    return f"Could not save {target}: {reason}."


def _check_target(target: Path, overwrite: bool) -> None:
    folder = target.parent
    if not folder.exists():
        raise DataWriteError(
            f"Could not save {target}: the folder {folder} does not exist. "
            "Create it first or choose another folder.",
            errno_code=errno.ENOENT,
        )
    if not folder.is_dir():
        raise DataWriteError(
            f"Could not save {target}: {folder} is a file, not a folder.",
            errno_code=errno.ENOTDIR,
        )
    if target.is_dir():
        raise DataWriteError(
            f"Could not save {target}: a folder with that name already exists. "
            "Choose a file name instead.",
            errno_code=errno.EISDIR,
        )
    if not overwrite and target.exists():
        raise DataWriteError(
            f"{target} already exists. Choose another name, or allow overwriting (overwrite=True).",
            errno_code=errno.EEXIST,
        )


def _create_temp(target: Path) -> Path:
    """Create an empty, exclusive temporary file next to *target*.

    The file is created with mode 0o666 so that the process umask applies, as for
    any newly created file (unlike :func:`tempfile.mkstemp`, which uses 0o600).
    """
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise DataWriteError(f"Could not create a temporary file next to {target}.")  # pragma: no cover


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; best effort (not supported everywhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Write *target* atomically through a temporary file.

    Yields the path of an empty temporary file in the same folder as *target*
    (same file-name suffix, so libraries that look at the extension behave).
    Write the complete content there; when the ``with`` block ends without an
    error the file is flushed to disk (``fsync``) and moved onto *target* with
    :func:`os.replace`.  If the block raises, the temporary file is removed and
    *target* is left exactly as it was.  Operating-system errors (full disk,
    permissions, missing folder) are raised as :class:`DataWriteError` with a
    readable message; other exceptions propagate unchanged.

    If *target* already exists its permission bits are kept.  With
    ``overwrite=False`` an existing *target* is an error.

    Example::

        with atomic_path("embedding.npy") as tmp:
            np.save(tmp, coords)
    """
    target = Path(target).expanduser()
    _check_target(target, overwrite)
    try:
        old_mode = target.stat().st_mode & 0o7777
    except OSError:
        old_mode = None
    try:
        tmp = _create_temp(target)
    except DataWriteError:
        raise
    except OSError as err:
        raise DataWriteError(describe_os_error(err, target), errno_code=err.errno) from err

    try:
        yield tmp
        if not tmp.exists():
            raise DataWriteError(f"Could not save {target}: the writer produced no file.")
        _fsync_file(tmp)
        if old_mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, old_mode)
        os.replace(tmp, target)
    except DataWriteError:
        _remove_quietly(tmp)
        raise
    except OSError as err:
        _remove_quietly(tmp)
        raise DataWriteError(describe_os_error(err, target), errno_code=err.errno) from err
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(target.parent)
