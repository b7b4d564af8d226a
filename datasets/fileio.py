"""Atomic file writes: write to a temporary name in the same directory, then rename over the target.

An interrupted run therefore never leaves a half-written feature, metadata file or config behind. A process
killed with SIGKILL cannot remove its temporary file, so temporary names are recognisable
(`.<name>.<8 random characters>.tmp`, see `is_temp_name`) and `remove_stale_temps` deletes the ones a
killed run left in a directory; call it before writing there again. Two runs must not write into the same
directory at once.

A write that fails (disk full, no permission) raises OSError whose `filename` is the target path, never the
temporary one; the temporary file is removed. Files are written with ordinary buffered I/O (no fsync):
complete after a killed process, not necessarily after a power cut.
"""
import contextlib
import ctypes
import errno
import io
import os
import re
import shutil
import tempfile

import numpy as np
import soundfile

TEMP_SUFFIX = ".tmp"
# mkstemp/mkdtemp names: prefix + 8 characters of [a-z0-9_] + suffix.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def temp_prefix(name, role=""):
    """The prefix of the temporary names of `name` (`.name.` or `.name.role.`)."""
    return "." + name + "." + (role + "." if role else "")


def is_temp_name(name, target=None):
    """True for a temporary name made by this module (of `target` only, when given)."""
    if target is not None:
        pattern = r"^\." + re.escape(target) + r"\.(?:[a-z]+\.)?[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$"
        return re.match(pattern, name) is not None
    return _TEMP_NAME.match(name) is not None


def remove_stale_temps(directory, target=None):
    """Deletes the temporary files and directories a killed run left in `directory` (those of `target`
    only, when given). Returns the removed paths; a missing directory has none."""
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        if not is_temp_name(name, target):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        removed.append(path)
    return removed


def write_error_line(error):
    """One line for a failed write: "<file>: cannot write (<reason>)" when the OSError names both."""
    if error.filename and error.strerror:
        return f"{error.filename}: cannot write ({error.strerror})"
    return str(error)


def _named(error, path):
    """`error` naming `path` instead of a temporary file (or nothing)."""
    if error.errno is None:
        return OSError(f"{path}: {error}")
    return OSError(error.errno, error.strerror, path)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to `path`; on success renames it to `path`, on error removes it.

    Raises:
        OSError naming `path` when the temporary file cannot be created, written or renamed.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    try:
        handle, temp_path = tempfile.mkstemp(prefix=temp_prefix(os.path.basename(path)), suffix=TEMP_SUFFIX,
                                             dir=directory)
    except OSError as error:
        raise _named(error, path) from error
    os.close(handle)
    try:
        yield temp_path
        os.chmod(temp_path, 0o644)  # mkstemp creates 0600; outputs are ordinary readable files
        os.replace(temp_path, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temp_path)
        if isinstance(error, OSError) and error.filename in (None, temp_path):
            raise _named(error, path) from error
        raise


def write_bytes(path, data):
    """Atomically writes bytes."""
    with atomic_path(path) as temp_path:
        with open(temp_path, "wb") as handle:
            handle.write(data)


def write_text(path, text):
    """Atomically writes a UTF-8 text file."""
    write_bytes(path, text.encode("utf-8"))


def write_npy(path, array):
    """Atomically writes one array as `.npy`."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes(path, buffer.getvalue())


def write_wav(path, samples, sample_rate):
    """Atomically writes 16-bit PCM mono audio; samples int16 (written as they are) or float in [-1, 1].

    The file is encoded in memory first, so a failed write is an OSError (libsndfile would only report a
    short write).
    """
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        samples = samples.astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, subtype="PCM_16", format="WAV")
    write_bytes(path, buffer.getvalue())


def _exchange(path_a, path_b):
    """Atomically swaps two directory entries (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(path_a), _AT_FDCWD, os.fsencode(path_b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the filesystem cannot exchange
    raise OSError(code, os.strerror(code), path_b)


def replace_directory(new_dir, target):
    """Moves the complete directory `new_dir` to `target`, replacing a directory already there, so that
    `target` is at every moment either the old directory or the new one, even if the process is killed.

    `new_dir` must be a sibling of `target` (same filesystem). On Linux the two are swapped in one
    `renameat2(RENAME_EXCHANGE)` and the old one (then at `new_dir`) is deleted; a kill before the deletion
    leaves it under its temporary name for `remove_stale_temps`. Where the filesystem cannot exchange,
    the old directory is first renamed aside to `.<name>.old.XXXXXXXX.tmp`: a kill in the instant between
    the two renames leaves no `target`, and `restore_directory(target)` puts the old one back.
    """
    if not os.path.lexists(target):
        os.replace(new_dir, target)
        return
    if os.path.isdir(target) and not os.listdir(target):
        os.replace(new_dir, target)  # rename(2) replaces an empty directory atomically
        return
    if _exchange(new_dir, target):
        shutil.rmtree(new_dir, ignore_errors=True)
        return
    parent, name = os.path.split(os.path.abspath(target))
    old_dir = tempfile.mkdtemp(prefix=temp_prefix(name, "old"), suffix=TEMP_SUFFIX, dir=parent)
    os.replace(target, old_dir)
    os.replace(new_dir, target)
    shutil.rmtree(old_dir, ignore_errors=True)


def restore_directory(target):
    """Puts back the old directory of a `replace_directory` killed between its two renames (only when
    `target` is missing). Returns the restored path or None."""
    if os.path.lexists(target):
        return None
    parent, name = os.path.split(os.path.abspath(target))
    if not os.path.isdir(parent):
        return None
    prefix = temp_prefix(name, "old")
    for entry in sorted(os.listdir(parent)):
        if entry.startswith(prefix) and is_temp_name(entry, name):
            os.replace(os.path.join(parent, entry), target)
            return target
    return None
