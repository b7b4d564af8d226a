"""The course's acoustic feature pipeline as plain NumPy/librosa functions: load, trim, mel, align.

    load_wav -> trim_silence -> melspectrogram -> align_lengths      (features_from_wav runs all but load)

Mel: |STFT| (n_fft 2048, hop 200, window 800, periodic Hann, centred with reflect padding, as the course's
librosa 0.7) -> Slaney mel filter bank (librosa.filters.mel) -> dB
`20 log10(max(x, 10 ** (min_level_db / 20))) - ref_level_db` -> `normalize` to [-max_abs_value, max_abs_value]
with `min_db` as the floor (the course's `_normalize`). After `align_lengths` a feature pair satisfies
`len(wav) == n_frames * hop_size` exactly.

Arrays: `wav` is always [N] float32 in [-1, 1]; `mel` is [T, n_mels] float32.
"""
import struct

import librosa
import numpy as np
import soundfile


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the problem."""


def _wav_truncation(path):
    """Describes a RIFF/WAVE file whose data chunk is shorter than its header declares, else None.

    libsndfile silently reads what is there, so a cut-off copy would otherwise pass as a short file.
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        handle.seek(0, 2)
        file_size = handle.tell()
        offset = 12
        while offset + 8 <= file_size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                available = file_size - offset - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    return f"truncated wav (header declares {chunk_size} data bytes, file holds {available})"
                return None
            offset += 8 + chunk_size + (chunk_size & 1)
    return "truncated wav (no data chunk)"


def load_wav(path, sample_rate):
    """Reads an audio file as mono float32 at `sample_rate` (channels averaged, other rates resampled).

    Returns:
        wav [N] float32 in [-1, 1].
    Raises:
        AudioError(f"{path}: ...") for a missing, unreadable, truncated or empty file.
    """
    try:
        problem = _wav_truncation(path)
        if problem is None:
            data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise AudioError(f"{path}: missing wav") from None
    except (OSError, RuntimeError, soundfile.LibsndfileError, struct.error) as error:
        raise AudioError(f"{path}: unreadable wav ({str(error).splitlines()[0]})") from None
    if problem is not None:
        raise AudioError(f"{path}: {problem}")
    if data.shape[0] == 0:
        raise AudioError(f"{path}: empty wav (no samples)")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(wav)):
        raise AudioError(f"{path}: unreadable wav (non-finite samples)")
    if file_rate != sample_rate:
        wav = librosa.resample(wav, orig_sr=file_rate, target_sr=sample_rate)
    return np.clip(wav, -1.0, 1.0).astype(np.float32)


def peak_db(wav):
    """Peak level of wav [N] in dB relative to full scale (-inf for an all-zero or empty signal)."""
    peak = float(np.max(np.abs(wav))) if len(wav) else 0.0
    return 20.0 * np.log10(peak) if peak > 0.0 else -np.inf


def trim_silence(wav, top_db, frame_length, hop_length, num_silent_frames, hop_size):
    """Cuts leading and trailing silence, keeping a short margin of it.

    librosa.effects.trim(top_db, frame_length, hop_length) finds the non-silent interval [start, end);
    `num_silent_frames * hop_size // 2` samples are kept before it and `2 * num_silent_frames * hop_size`
    after it (both clipped to the signal).

    Args:
        wav: [N] float32.
        top_db: threshold in dB below the peak.
        frame_length, hop_length: framing of the trimmer (course: 512, 128).
        num_silent_frames: margin in mel hops.
        hop_size: mel hop in samples.
    Returns:
        [M] float32, M <= N.
    """
    _, (start, end) = librosa.effects.trim(wav, top_db=top_db, frame_length=frame_length,
                                           hop_length=hop_length)
    before = num_silent_frames * hop_size // 2
    after = 2 * num_silent_frames * hop_size
    return wav[max(0, start - before):min(len(wav), end + after)]


def amp_to_db(amplitude, min_level_db):
    """20 log10 of an amplitude floored at 10 ** (min_level_db / 20)."""
    floor = 10.0 ** (min_level_db / 20.0)
    return 20.0 * np.log10(np.maximum(amplitude, floor))


def db_to_amp(db):
    """Inverse of `amp_to_db` (above its floor): 10 ** (db / 20)."""
    return np.power(10.0, np.asarray(db) * 0.05)


def normalize(db, min_db, max_abs_value):
    """dB (ref-subtracted) to [-M, M]: clip(2 M (db - min_db) / -min_db - M, -M, M), M = max_abs_value."""
    scaled = 2.0 * max_abs_value * ((db - min_db) / (-min_db)) - max_abs_value
    return np.clip(scaled, -max_abs_value, max_abs_value)


def denormalize(mel, min_db, max_abs_value):
    """Inverse of `normalize` (the input is clipped to [-M, M] first); returns dB."""
    clipped = np.clip(mel, -max_abs_value, max_abs_value)
    return (clipped + max_abs_value) * (-min_db) / (2.0 * max_abs_value) + min_db


def mel_basis(sample_rate, n_fft, n_mels, fmin, fmax):
    """librosa's Slaney-normalised mel filter bank: [n_mels, 1 + n_fft // 2] float64."""
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                               dtype=np.float64)


def melspectrogram(wav, sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, min_level_db,
                   ref_level_db, max_abs_value, min_db):
    """Normalised log-mel spectrogram of wav [N] -> mel [1 + N // hop_size, n_mels] float32.

    Computed in float64 and cast at the end, so it does not depend on float32 rounding in the STFT.
    """
    spectrum = librosa.stft(np.asarray(wav, dtype=np.float64), n_fft=n_fft, hop_length=hop_size,
                            win_length=win_size, window="hann", center=True, pad_mode="reflect")
    mel_amplitude = mel_basis(sample_rate, n_fft, n_mels, fmin, fmax) @ np.abs(spectrum)
    db = amp_to_db(mel_amplitude, min_level_db) - ref_level_db
    return normalize(db, min_db, max_abs_value).T.astype(np.float32)


def peak_normalize_int16(wav):
    """The course's `save_wav(norm=True)`: scales wav [N] so that its peak is full scale (a peak below 0.01
    is scaled as if it were 0.01, so near-silence is not blown up) and returns 16-bit samples [N] int16."""
    wav = np.asarray(wav, dtype=np.float64)
    peak = float(np.max(np.abs(wav))) if len(wav) else 0.0
    return (wav * (32767.0 / max(0.01, peak))).astype(np.int16)


def align_lengths(wav, mel, hop_size):
    """Cuts wav [N] and mel [T, n_mels] so that len(wav) == n_frames * hop_size exactly.

    n_frames = min(N // hop_size, T); returns (wav[:n_frames * hop_size], mel[:n_frames]).
    """
    n_frames = min(len(wav) // hop_size, mel.shape[0])
    return wav[:n_frames * hop_size], mel[:n_frames]


def features_from_wav(wav, *, sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, min_level_db,
                      ref_level_db, max_abs_value, min_db, trim_top_db, trim_frame_length, trim_hop_length,
                      num_silent_frames):
    """trim_silence -> melspectrogram -> align_lengths on a loaded wav [N].

    Returns:
        (wav [n_frames * hop_size] float32, mel [n_frames, n_mels] float32); n_frames may be 0 for a
        signal shorter than one hop after trimming (the caller decides what to do with it).
    """
    trimmed = trim_silence(wav, top_db=trim_top_db, frame_length=trim_frame_length,
                           hop_length=trim_hop_length, num_silent_frames=num_silent_frames,
                           hop_size=hop_size)
    mel = melspectrogram(trimmed, sample_rate=sample_rate, n_fft=n_fft, hop_size=hop_size,
                         win_size=win_size, n_mels=n_mels, fmin=fmin, fmax=fmax,
                         min_level_db=min_level_db, ref_level_db=ref_level_db, max_abs_value=max_abs_value,
                         min_db=min_db)
    return align_lengths(trimmed, mel, hop_size)
