"""Atomic file writes: write to a temporary name in the same directory, then rename over the target.

An interrupted run therefore never leaves a half-written feature, metadata file or config behind.
"""
import contextlib
import io
import os
import tempfile

import numpy as np
import soundfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to `path`; on success renames it to `path`, on error removes it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                         dir=directory)
    os.close(handle)
    try:
        yield temp_path
        os.chmod(temp_path, 0o644)  # mkstemp creates 0600; outputs are ordinary readable files
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def write_text(path, text):
    """Atomically writes a UTF-8 text file."""
    with atomic_path(path) as temp_path:
        with open(temp_path, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_npy(path, array):
    """Atomically writes one array as `.npy`."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    with atomic_path(path) as temp_path:
        with open(temp_path, "wb") as handle:
            handle.write(buffer.getvalue())


def write_wav(path, samples, sample_rate):
    """Atomically writes 16-bit PCM mono audio; samples float in [-1, 1]."""
    with atomic_path(path) as temp_path:
        soundfile.write(temp_path, np.asarray(samples, dtype=np.float32), sample_rate,
                        subtype="PCM_16", format="WAV")
