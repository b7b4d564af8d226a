"""Griffin-Lim mel-to-waveform inversion in TensorFlow ops (tf.signal): batched, graph-safe, GPU-ready.

The course inverts a normalised mel like this: denormalise to dB, add ref_level_db, dB -> amplitude,
mel -> linear magnitude with the pseudo-inverse of the mel basis (floored at 1e-10), raise to `power`,
then Griffin-Lim: istft with a random initial phase, and `n_iters` times (stft, keep the angle, istft).
This module does the same with librosa's framing (center=True with reflect padding of n_fft // 2 on both
sides, as the course's librosa 0.7; a periodic Hann window of win_size zero-padded to n_fft and centred;
istft normalised by the summed squared window), so `stft`/`istft` here agree with librosa.stft/librosa.istft.

Lengths: the iterations run on (T - 1) * hop samples (librosa.istft without `length`, as the course
does), so their re-analysis has exactly T frames; the final istft returns T * hop samples (librosa.istft
with length=T * hop), so wav length = frames x hop.

Only the inverse mel basis is computed with NumPy/librosa, once, in Python when a model is built; it
enters the graph as a constant.
"""
import math

import librosa
import numpy as np
import tensorflow as tf

# Smallest normal float32, librosa's threshold for "the window envelope is not zero".
_TINY = float(np.finfo(np.float32).tiny)
_ANGLE_GUARD = 1e-18


def denormalize_mel(mel, max_abs_value, min_db, ref_level_db):
    """Inverse of the symmetric mel normalisation (floor `min_db`, the course's `_denormalize`), back to mel
    amplitude.

    mel: [B, T, n_mels] normalised to [-max_abs_value, max_abs_value] (clipped to it first).
    Returns the mel amplitude [B, T, n_mels] float32, 10 ** ((dB + ref_level_db) / 20).
    """
    mel = tf.clip_by_value(tf.cast(mel, tf.float32), -max_abs_value, max_abs_value)
    db = (mel + max_abs_value) * (-min_db / (2.0 * max_abs_value)) + min_db
    return tf.pow(10.0, (db + ref_level_db) * 0.05)


def inverse_mel_basis_matrix(sample_rate, n_fft, n_mels, fmin, fmax):
    """Transpose of pinv(librosa mel basis) as NumPy float32 [n_mels, 1 + n_fft // 2] (build time only)."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.linalg.pinv(basis).T.astype(np.float32)


def mel_to_linear(mel_amplitude, inverse_mel_basis):
    """Mel amplitude to linear magnitude with the pseudo-inverse basis, floored at 1e-10.

    mel_amplitude: [B, T, n_mels]; inverse_mel_basis: [n_mels, 1 + n_fft // 2].
    Returns [B, T, 1 + n_fft // 2] float32.
    """
    linear = tf.einsum("btm,mf->btf", tf.cast(mel_amplitude, tf.float32),
                       tf.cast(inverse_mel_basis, tf.float32))
    return tf.maximum(linear, 1e-10)


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


def random_phase(num_frames, num_bins, seed):
    """Stateless random initial phase in [0, 2 pi): [num_frames, num_bins] float32.

    The same for the same (shape, seed) on every call. griffin_lim shares it across the batch, so the
    longest utterance of a batch gets the same phase (and waveform) as when it is inverted alone.
    """
    uniform = tf.random.stateless_uniform([num_frames, num_bins], seed=[seed, 0], dtype=tf.float32)
    return (2.0 * math.pi) * uniform


def _compact_geometry(n_fft, win_size):
    """(left, pad): the window's first nonzero sample inside an n_fft frame, and the reflect padding that
    makes win_size-long frames start where the window starts (n_fft // 2 - left)."""
    left = (n_fft - win_size) // 2
    return left, n_fft // 2 - left


def _edge_reflect_pad(signal, pad):
    """reflect_pad for pad < N (two reversed slices instead of a gather); reflect_pad otherwise.
    signal: [B, N]. Returns [B, N + 2 * pad]."""
    length = tf.shape(signal)[-1]

    def slices():
        head = tf.reverse(signal[:, 1:pad + 1], axis=[-1])
        tail = tf.reverse(signal[:, length - pad - 1:length - 1], axis=[-1])
        return tf.concat([head, signal, tail], axis=-1)

    return tf.cond(length > pad, slices, lambda: reflect_pad(signal, pad))


def _frames(signal, frame_length, hop_size):
    """tf.signal.frame(signal, frame_length, hop_size); when frame_length is m hops, as m shifted views of
    the signal's hop-long blocks (one concat instead of a gather). signal: [B, N] -> [B, T, frame_length]."""
    if frame_length % hop_size:
        return tf.signal.frame(signal, frame_length, hop_size)
    hops = frame_length // hop_size
    num_blocks = tf.shape(signal)[-1] // hop_size
    blocks = tf.reshape(signal[:, :num_blocks * hop_size], [tf.shape(signal)[0], num_blocks, hop_size])
    count = tf.maximum(num_blocks - hops + 1, 0)
    return tf.concat([blocks[:, j:j + count] for j in range(hops)], axis=-1)


def _overlap_add(frames, hop_size):
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


def _compact_stft(signal, window, n_fft, hop_size, pad, num_frames):
    """stft(signal) * exp(2 pi i k left / n_fft): the FFT of each frame's windowed win_size samples only.

    signal: [B, N]; window: [win_size] (unpadded). Returns [B, num_frames, 1 + n_fft // 2] complex64.
    """
    frames = _frames(_edge_reflect_pad(signal, pad), window.shape[0], hop_size)[:, :num_frames]
    return tf.signal.rfft(frames * window, fft_length=[n_fft])


def _compact_istft(spectrum, window, inverse_envelope, n_fft, hop_size, pad, length):
    """Inverse of _compact_stft, = istft of the spectrum multiplied by exp(-2 pi i k left / n_fft).

    spectrum: [B, T, 1 + n_fft // 2] complex64; inverse_envelope: 1 / the overlap-added squared window
    (1 where that is ~0), [win_size + (T - 1) * hop]. Returns [B, length] float32.
    """
    frames = tf.signal.irfft(spectrum, fft_length=[n_fft])[..., :window.shape[0]] * window
    signal = _overlap_add(frames, hop_size) * inverse_envelope
    missing = tf.maximum(pad + length - tf.shape(signal)[-1], 0)
    signal = tf.pad(signal, [[0, 0], [0, missing]])
    return signal[:, pad:pad + length]


def _project(magnitude, spectrum):
    """magnitude * exp(i angle(spectrum)), without the angle: magnitude * spectrum / |spectrum|.

    A real 1e-18 is added to the spectrum first, so a zero bin takes angle 0 (numpy.angle(0)) and no bin
    divides by zero (its squared modulus stays a normal float32); it turns a bin of modulus 1e-9 (the
    smallest the course's -115 dB floor gives) by at most 1e-9 rad. |spectrum|^-1 is taken as rsqrt of
    spectrum * conj(spectrum): tf.abs of a complex tensor (hypot) is the slowest op of the loop on CPU.
    Both [B, T, F]; returns complex64.
    """
    spectrum = spectrum + _ANGLE_GUARD
    power = tf.math.real(spectrum * tf.math.conj(spectrum))
    return spectrum * tf.cast(magnitude * tf.math.rsqrt(power), tf.complex64)


def griffin_lim(magnitude, n_fft, hop_size, win_size, n_iters, initial_phase=None, seed=0):
    """Griffin-Lim phase reconstruction, the course's loop (no momentum).

    magnitude: [B, T, 1 + n_fft // 2] float32 target STFT magnitude.
    initial_phase: [T, 1 + n_fft // 2] or [B, T, 1 + n_fft // 2] angles in radians, or None for
        random_phase(T, 1 + n_fft // 2, seed).
    Returns the waveform [B, T * hop_size] float32.

    The same arithmetic as istft(magnitude * exp(i angle(stft(...)))) repeated, done cheaper: the frames
    are cut to the window's win_size nonzero samples (their FFT differs from the n_fft frame's by the
    fixed phase ramp exp(2 pi i k left / n_fft), applied once to the initial phase), and the new phase
    is taken as spectrum / |spectrum| instead of through angle, cos and sin.
    """
    magnitude = tf.convert_to_tensor(magnitude, tf.float32)
    num_frames = tf.shape(magnitude)[1]
    num_bins = n_fft // 2 + 1
    if initial_phase is None:
        initial_phase = random_phase(num_frames, num_bins, seed)
    left, pad = _compact_geometry(n_fft, win_size)
    ramp = (2.0 * math.pi * left / n_fft) * tf.range(num_bins, dtype=tf.float32)
    angles = tf.broadcast_to(tf.cast(initial_phase, tf.float32) + ramp, tf.shape(magnitude))
    spectrum = tf.complex(magnitude * tf.cos(angles), magnitude * tf.sin(angles))
    spectrum.set_shape(magnitude.shape)

    window = tf.signal.hann_window(win_size, periodic=True, dtype=tf.float32)
    envelope = tf.signal.overlap_and_add(tf.tile(tf.square(window)[tf.newaxis], [num_frames, 1]), hop_size)
    inverse_envelope = tf.where(envelope > _TINY, 1.0 / tf.where(envelope > _TINY, envelope, 1.0), 1.0)
    inner_length = (num_frames - 1) * hop_size

    def iteration(step, spectrum):
        signal = _compact_istft(spectrum, window, inverse_envelope, n_fft, hop_size, pad, inner_length)
        spectrum = _project(magnitude, _compact_stft(signal, window, n_fft, hop_size, pad, num_frames))
        spectrum.set_shape(magnitude.shape)
        return step + 1, spectrum

    _, spectrum = tf.while_loop(lambda step, _: step < n_iters, iteration, (tf.constant(0), spectrum))
    return _compact_istft(spectrum, window, inverse_envelope, n_fft, hop_size, pad, num_frames * hop_size)


class GriffinLim:
    """Normalised mel to waveform; the inverse mel basis is built once here and used as a constant.

    Arguments are the feature hyper-parameters (hparams: sample_rate, n_fft, hop_size, win_size,
    acoustic_dim -> n_mels, fmin, fmax, max_abs_value, min_db, ref_level_db,
    griffin_lim_power -> power, griffin_lim_iters -> n_iters); seed fixes the initial phase.
    """

    def __init__(self, sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, max_abs_value,
                 min_db, ref_level_db, power, n_iters, seed=0):
        self.n_fft = n_fft
        self.hop_size = hop_size
        self.win_size = win_size
        self.n_mels = n_mels
        self.max_abs_value = max_abs_value
        self.min_db = min_db
        self.ref_level_db = ref_level_db
        self.power = power
        self.n_iters = n_iters
        self.seed = seed
        self.inverse_mel_basis = inverse_mel_basis_matrix(sample_rate, n_fft, n_mels, fmin, fmax)

    def __call__(self, mel, mel_lengths=None):
        """mel: [B, T, n_mels] normalised; mel_lengths: [B] int valid frames, or None for all T.

        Returns (wav [B, T * hop_size] float32, zero beyond each length; wav_lengths [B] int32 =
        mel_lengths * hop_size). Frames beyond mel_lengths get zero magnitude before Griffin-Lim.
        """
        mel = tf.cast(mel, tf.float32)
        batch_size, num_frames = tf.shape(mel)[0], tf.shape(mel)[1]
        if mel_lengths is None:
            mel_lengths = tf.fill([batch_size], num_frames)
        mel_lengths = tf.cast(mel_lengths, tf.int32)

        amplitude = denormalize_mel(mel, self.max_abs_value, self.min_db, self.ref_level_db)
        magnitude = mel_to_linear(amplitude, tf.constant(self.inverse_mel_basis)) ** self.power
        magnitude *= tf.sequence_mask(mel_lengths, num_frames, dtype=tf.float32)[:, :, tf.newaxis]

        wav = griffin_lim(magnitude, self.n_fft, self.hop_size, self.win_size, self.n_iters, seed=self.seed)
        wav_lengths = mel_lengths * self.hop_size
        wav *= tf.sequence_mask(wav_lengths, num_frames * self.hop_size, dtype=tf.float32)
        return wav, wav_lengths


def mel_to_wav(mel, sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, max_abs_value,
               min_db, ref_level_db, power, n_iters, mel_lengths=None, seed=0):
    """One-off GriffinLim(...)(mel, mel_lengths); mel: [B, T, n_mels], mel_lengths: [B] or None.

    Returns (wav [B, T * hop_size], wav_lengths [B]). Build a GriffinLim once when calling repeatedly.
    """
    inverter = GriffinLim(sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, max_abs_value,
                          min_db, ref_level_db, power, n_iters, seed=seed)
    return inverter(mel, mel_lengths)


def griffin_lim_from_hparams(hp):
    """The in-graph Griffin-Lim vocoder with the course parameters."""
    return GriffinLim(sample_rate=hp.sample_rate, n_fft=hp.n_fft, hop_size=hp.hop_size, win_size=hp.win_size,
                      n_mels=hp.acoustic_dim, fmin=hp.fmin, fmax=hp.fmax, max_abs_value=hp.max_abs_value,
                      min_db=hp.min_db, ref_level_db=hp.ref_level_db,
                      power=hp.griffin_lim_power, n_iters=hp.griffin_lim_iters)
