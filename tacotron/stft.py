"""The short-time Fourier transform in TensorFlow ops, librosa's way, and the compact form Griffin-Lim uses.

`stft` / `istft` agree with librosa.stft / librosa.istft (center=True with reflect padding of n_fft // 2 on
both sides, as the course's librosa 0.7; a periodic Hann window of win_size zero-padded to n_fft and
centred; istft normalised by the summed squared window).

The compact form (`compact_analysis` / `compact_synthesis`) cuts each frame to the window's win_size
nonzero samples: their FFT at n_fft points differs from the n_fft frame's by the fixed phase ramp
exp(2 pi i k left / n_fft) (left = compact_geometry's), which Griffin-Lim applies once to its initial phase.
Framing and overlap-add use concats and sums of hop-long blocks when the window is a whole number of hops.
"""
import numpy as np
import tensorflow as tf

# Smallest normal float32, librosa's threshold for "the window envelope is not zero".
_TINY = float(np.finfo(np.float32).tiny)


def analysis_window(n_fft, win_size):
    """Periodic Hann window of win_size, zero-padded to n_fft and centred (librosa): [n_fft] float32."""
    window = tf.signal.hann_window(win_size, periodic=True, dtype=tf.float32)
    left = (n_fft - win_size) // 2
    return tf.pad(window, [[left, n_fft - win_size - left]])


def reflect_pad(signal, pad):
    """numpy.pad(signal, pad, mode="reflect") along the last axis, for any pad (also >= the length, where the
    reflection repeats, as numpy does; tf.pad's REFLECT requires pad < length).

    signal: [B, N] float. Returns [B, N + 2 * pad] (all zeros for N = 0).
    """
    length = tf.shape(signal)[-1]
    period = tf.maximum(2 * (length - 1), 1)
    index = tf.math.floormod(tf.range(-pad, length + pad), period)
    index = tf.where(index >= length, period - index, index)
    # An empty signal reads only index 0 of one appended zero sample (the clamp changes no other index).
    index = tf.minimum(index, tf.maximum(length - 1, 0))
    return tf.gather(tf.pad(signal, [[0, 0], [0, 1]]), index, axis=-1)


def stft(signal, n_fft, hop_size, win_size):
    """librosa.stft(center=True, pad_mode="reflect", window="hann"), time-major.

    signal: [B, N] float32. Returns [B, 1 + N // hop_size, 1 + n_fft // 2] complex64.
    """
    padded = reflect_pad(signal, n_fft // 2)
    frames = tf.signal.frame(padded, n_fft, hop_size)
    return tf.signal.rfft(frames * analysis_window(n_fft, win_size), fft_length=[n_fft])


def window_envelope(num_frames, n_fft, hop_size, win_size):
    """Overlap-added squared analysis window over num_frames frames: [n_fft + (num_frames - 1) * hop]."""
    squared = tf.square(analysis_window(n_fft, win_size))
    return tf.signal.overlap_and_add(tf.tile(squared[tf.newaxis], [num_frames, 1]), hop_size)


def _istft(spectrum, window, envelope, n_fft, hop_size, length):
    """istft with a precomputed window [n_fft] and envelope (see window_envelope).

    spectrum: [B, T, 1 + n_fft // 2] complex64. Returns [B, length] float32.
    """
    frames = tf.signal.irfft(spectrum, fft_length=[n_fft]) * window
    signal = tf.signal.overlap_and_add(frames, hop_size)
    signal = signal / tf.where(envelope > _TINY, envelope, tf.ones_like(envelope))
    start = n_fft // 2
    missing = tf.maximum(start + length - tf.shape(signal)[-1], 0)
    signal = tf.pad(signal, [[0, 0], [0, missing]])
    return signal[:, start:start + length]


def istft(spectrum, n_fft, hop_size, win_size, length):
    """librosa.istft(center=True, window="hann", length=length), time-major.

    spectrum: [B, T, 1 + n_fft // 2] complex64. Returns [B, length] float32 (zero-padded if the frames
    cover fewer samples).
    """
    num_frames = tf.shape(spectrum)[1]
    envelope = window_envelope(num_frames, n_fft, hop_size, win_size)
    return _istft(spectrum, analysis_window(n_fft, win_size), envelope, n_fft, hop_size, length)


def compact_geometry(n_fft, win_size):
    """(left, pad): the window's first nonzero sample inside an n_fft frame, and the reflect padding that
    makes win_size-long frames start where the window starts (n_fft // 2 - left)."""
    left = (n_fft - win_size) // 2
    return left, n_fft // 2 - left


def edge_reflect_pad(signal, pad):
    """reflect_pad for pad < N (two reversed slices instead of a gather); reflect_pad otherwise.
    signal: [B, N]. Returns [B, N + 2 * pad]."""
    length = tf.shape(signal)[-1]

    def slices():
        head = tf.reverse(signal[:, 1:pad + 1], axis=[-1])
        tail = tf.reverse(signal[:, length - pad - 1:length - 1], axis=[-1])
        return tf.concat([head, signal, tail], axis=-1)

    return tf.cond(length > pad, slices, lambda: reflect_pad(signal, pad))


def hop_frames(signal, frame_length, hop_size):
    """tf.signal.frame(signal, frame_length, hop_size); when frame_length is m hops, as m shifted views of
    the signal's hop-long blocks (one concat instead of a gather). signal: [B, N] -> [B, T, frame_length]."""
    if frame_length % hop_size:
        return tf.signal.frame(signal, frame_length, hop_size)
    hops = frame_length // hop_size
    num_blocks = tf.shape(signal)[-1] // hop_size
    blocks = tf.reshape(signal[:, :num_blocks * hop_size], [tf.shape(signal)[0], num_blocks, hop_size])
    count = tf.maximum(num_blocks - hops + 1, 0)
    return tf.concat([blocks[:, j:j + count] for j in range(hops)], axis=-1)


def hop_overlap_add(frames, hop_size):
    """tf.signal.overlap_and_add(frames, hop_size); when the frame is m hops, as a sum of m shifted block
    arrays. frames: [B, T, frame_length] -> [B, frame_length + (T - 1) * hop_size]."""
    frame_length = frames.shape[-1]
    if frame_length is None or frame_length % hop_size:
        return tf.signal.overlap_and_add(frames, hop_size)
    hops = frame_length // hop_size
    batch_size, num_frames = tf.shape(frames)[0], tf.shape(frames)[1]
    parts = tf.reshape(frames, [batch_size, num_frames, hops, hop_size])
    total = tf.add_n([tf.pad(parts[:, :, j], [[0, 0], [j, hops - 1 - j], [0, 0]]) for j in range(hops)])
    return tf.reshape(total, [batch_size, (num_frames + hops - 1) * hop_size])


def compact_analysis(padded, window, n_fft, hop_size, num_frames):
    """The FFT of each frame's windowed win_size samples: stft(signal) * exp(2 pi i k left / n_fft).

    padded: [B, N + 2 * pad] the signal reflect-padded by pad (compact_geometry); window: [win_size]
    (unpadded). Returns the first num_frames frames, [B, num_frames, 1 + n_fft // 2] complex64.
    """
    frames = hop_frames(padded, window.shape[0], hop_size)[:, :num_frames]
    return tf.signal.rfft(frames * window, fft_length=[n_fft])


def compact_synthesis(spectrum, window, inverse_envelope, n_fft, hop_size):
    """Inverse of compact_analysis before trimming: the overlap-added, window-normalised frames.

    spectrum: [B, T, 1 + n_fft // 2] complex64; inverse_envelope: inverse_window_envelope of T frames,
    [win_size + (T - 1) * hop]. Returns [B, win_size + (T - 1) * hop] float32, whose samples from pad on
    are istft's (of the spectrum multiplied by exp(-2 pi i k left / n_fft)).
    """
    frames = tf.signal.irfft(spectrum, fft_length=[n_fft])[..., :window.shape[0]] * window
    return hop_overlap_add(frames, hop_size) * inverse_envelope


def trim(signal, pad, length):
    """signal[:, pad:pad + length], zero-padded when shorter. signal: [B, N] -> [B, length]."""
    missing = tf.maximum(pad + length - tf.shape(signal)[-1], 0)
    signal = tf.pad(signal, [[0, 0], [0, missing]])
    return signal[:, pad:pad + length]


def inverse_window_envelope(window, num_frames, hop_size):
    """1 / the overlap-added squared window of num_frames frames, 1 where that is ~0 (as librosa).

    window: [win_size]. Returns [win_size + (num_frames - 1) * hop_size] float32.
    """
    envelope = tf.signal.overlap_and_add(tf.tile(tf.square(window)[tf.newaxis], [num_frames, 1]), hop_size)
    return _inverse(envelope)


def inverse_window_envelopes(window, lengths, num_frames, hop_size):
    """inverse_window_envelope of each row's first lengths[b] frames, laid over num_frames frames (1 beyond).

    window: [win_size]; lengths: [B] int32 (<= num_frames). Returns [B, win_size + (num_frames - 1) * hop_size].
    """
    frames = tf.sequence_mask(lengths, num_frames, dtype=window.dtype)[:, :, tf.newaxis] * tf.square(window)
    return _inverse(hop_overlap_add(frames, hop_size))


def _inverse(envelope):
    return tf.where(envelope > _TINY, 1.0 / tf.where(envelope > _TINY, envelope, 1.0), 1.0)



def reflect_index(lengths, total, pad):
    """Gather indices that reflect-pad each row's valid prefix by pad on both sides, for rows of any length.

    For a signal [B, total] with one zero column appended, tf.gather(that, index, batch_dims=1) gives row b as
    numpy.pad(signal[b, :lengths[b]], pad, mode="reflect") followed by zeros (all zeros for a length of 0):
    the reflect_pad of each row at its own length, in one op whose shapes do not depend on the lengths.
    lengths: [B] int32, each <= total. Returns [B, total + 2 * pad] int32, values in [0, total].
    """
    lengths = tf.cast(lengths, tf.int32)[:, tf.newaxis]
    position = tf.range(total + 2 * pad)[tf.newaxis, :] - pad
    period = tf.maximum(2 * (lengths - 1), 1)
    index = tf.math.floormod(position, period)
    index = tf.where(index >= lengths, period - index, index)
    inside = tf.logical_and(position < lengths + pad, lengths > 0)
    return tf.where(inside, index, total)
