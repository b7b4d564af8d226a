"""Griffin-Lim mel-to-waveform inversion in TensorFlow ops (tf.signal): batched, graph-safe, GPU-ready.

The course inverts a normalised mel like this: denormalise to dB, add ref_level_db, dB -> amplitude,
mel -> linear magnitude with the pseudo-inverse of the mel basis (floored at 1e-10), raise to `power`,
then Griffin-Lim: istft with a random initial phase, and `n_iters` times (stft, keep the angle, istft).
This module does the same with librosa's framing (tacotron/stft.py), in that module's compact form.

Lengths: the iterations run on (T - 1) * hop samples (librosa.istft without `length`, as the course
does), so their re-analysis has exactly T frames; the final istft returns T * hop samples (librosa.istft
with length=T * hop), so wav length = frames x hop.

`griffin_lim_xla` runs the same loop compiled by XLA, on frame counts padded to buckets; see there.

Only the inverse mel basis is computed with NumPy/librosa, once, in Python when a model is built; it
enters the graph as a constant.
"""
import functools
import math

import librosa
import numpy as np
import tensorflow as tf

from tacotron.stft import compact_analysis
from tacotron.stft import compact_geometry
from tacotron.stft import compact_synthesis
from tacotron.stft import edge_reflect_pad
from tacotron.stft import inverse_window_envelope
from tacotron.stft import inverse_window_envelopes
from tacotron.stft import reflect_index
from tacotron.stft import trim

_ANGLE_GUARD = 1e-18
# Frame counts are padded to a multiple of this for XLA (12.5 ms frames: 0.4 s of audio).
XLA_BUCKET_FRAMES = 32


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


def random_phase(num_frames, num_bins, seed):
    """Stateless random initial phase in [0, 2 pi): [num_frames, num_bins] float32.

    The same for the same (shape, seed) on every call. griffin_lim shares it across the batch, so the
    longest utterance of a batch gets the same phase (and waveform) as when it is inverted alone.
    """
    uniform = tf.random.stateless_uniform([num_frames, num_bins], seed=[seed, 0], dtype=tf.float32)
    return (2.0 * math.pi) * uniform


def project_magnitude(magnitude, spectrum):
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


def initial_spectrum(magnitude, n_fft, win_size, initial_phase=None, seed=0):
    """The loop's starting point: magnitude at the initial phase, in compact_analysis's phase convention.

    magnitude: [B, T, 1 + n_fft // 2] float32; initial_phase: as griffin_lim's. Returns complex64, same shape.
    """
    num_frames = tf.shape(magnitude)[1]
    num_bins = n_fft // 2 + 1
    if initial_phase is None:
        initial_phase = random_phase(num_frames, num_bins, seed)
    left, _ = compact_geometry(n_fft, win_size)
    ramp = (2.0 * math.pi * left / n_fft) * tf.range(num_bins, dtype=tf.float32)
    angles = tf.broadcast_to(tf.cast(initial_phase, tf.float32) + ramp, tf.shape(magnitude))
    spectrum = tf.complex(magnitude * tf.cos(angles), magnitude * tf.sin(angles))
    spectrum.set_shape(magnitude.shape)
    return spectrum


def griffin_lim(magnitude, n_fft, hop_size, win_size, n_iters, initial_phase=None, seed=0, lengths=None):
    """Griffin-Lim phase reconstruction, the course's loop (no momentum).

    magnitude: [B, T, 1 + n_fft // 2] float32 target STFT magnitude.
    initial_phase: [T, 1 + n_fft // 2] or [B, T, 1 + n_fft // 2] angles in radians, or None for
        random_phase(T, 1 + n_fft // 2, seed).
    lengths: None (every row has T frames), or [B] int32 frames per row: each row is then inverted at its own
        length, as if alone (random_phase of a shorter length is a prefix of the longer one's).
    Returns the waveform [B, T * hop_size] float32 (with lengths, row b's first lengths[b] * hop samples are
    its waveform).

    The same arithmetic as istft(magnitude * exp(i angle(stft(...)))) repeated, done cheaper: the frames
    are cut to the window's win_size nonzero samples (their FFT differs from the n_fft frame's by the
    fixed phase ramp exp(2 pi i k left / n_fft), applied once to the initial phase), and the new phase
    is taken as spectrum / |spectrum| instead of through angle, cos and sin.
    """
    magnitude = tf.convert_to_tensor(magnitude, tf.float32)
    if lengths is not None:
        return _rows_griffin_lim(magnitude, lengths, n_fft, hop_size, win_size, n_iters, initial_phase, seed)
    num_frames = tf.shape(magnitude)[1]
    spectrum = initial_spectrum(magnitude, n_fft, win_size, initial_phase, seed)
    _, pad = compact_geometry(n_fft, win_size)
    window = tf.signal.hann_window(win_size, periodic=True, dtype=tf.float32)
    inverse_envelope = inverse_window_envelope(window, num_frames, hop_size)
    return _iterate(magnitude, spectrum, inverse_envelope, lambda signal: edge_reflect_pad(signal, pad),
                    n_fft, hop_size, win_size, n_iters)


def _iterate(magnitude, spectrum, inverse_envelope, pad_signal, n_fft, hop_size, win_size, n_iters):
    """The loop of both forms: n_iters times overlap-add, reflect-pad, re-analyse and project; then overlap-add.

    magnitude, spectrum: [B, T, F] float32 and complex64 (the initial spectrum); inverse_envelope: [win_size +
    (T - 1) * hop] (stft.inverse_window_envelope) or one per row, [B, that]; pad_signal: signal [B, (T - 1) * hop]
    -> [B, (T - 1) * hop + 2 * pad], its reflect padding by compact_geometry's pad. Returns [B, T * hop].
    """
    _, pad = compact_geometry(n_fft, win_size)
    window = tf.signal.hann_window(win_size, periodic=True, dtype=tf.float32)
    num_frames = tf.shape(magnitude)[1]
    inner_length = (num_frames - 1) * hop_size

    def iteration(step, spectrum):
        signal = trim(compact_synthesis(spectrum, window, inverse_envelope, n_fft, hop_size), pad, inner_length)
        spectrum = project_magnitude(
            magnitude, compact_analysis(pad_signal(signal), window, n_fft, hop_size, num_frames))
        spectrum.set_shape(magnitude.shape)
        return step + 1, spectrum

    _, spectrum = tf.while_loop(lambda step, _: step < n_iters, iteration, (tf.constant(0), spectrum))
    signal = compact_synthesis(spectrum, window, inverse_envelope, n_fft, hop_size)
    return trim(signal, pad, num_frames * hop_size)


def _row_iterations(magnitude, spectrum, inverse_envelopes, index, n_fft, hop_size, win_size, n_iters):
    """griffin_lim's loop for rows of their own lengths inside a padded batch.

    magnitude, spectrum: [B, P, F] float32 and complex64 (the initial spectrum), zero beyond each row's frames;
    inverse_envelopes: stft.inverse_window_envelopes of the rows' lengths, [B, win_size + (P - 1) * hop];
    index: stft.reflect_index of the rows' (frames - 1) * hop samples, [B, (P - 1) * hop + 2 * pad].
    Returns [B, P * hop]: each row's first frames * hop samples are griffin_lim's for that row alone (up to
    float round-off). The zero frames add nothing to the overlap-add and stay zero after each projection;
    the envelope and the reflection at the end are each row's own.
    """
    def pad_signal(signal):
        return tf.gather(tf.pad(signal, [[0, 0], [0, 1]]), index, batch_dims=1)

    return _iterate(magnitude, spectrum, inverse_envelopes, pad_signal, n_fft, hop_size, win_size, n_iters)


@functools.lru_cache(maxsize=None)
def _compiled_row_iterations(n_fft, hop_size, win_size, n_iters):
    """_row_iterations under XLA for these sizes (one function; XLA compiles it once per input shape)."""
    num_bins = n_fft // 2 + 1
    signature = [tf.TensorSpec([None, None, num_bins], tf.float32, name="magnitude"),
                 tf.TensorSpec([None, None, num_bins], tf.complex64, name="spectrum"),
                 tf.TensorSpec([None, None], tf.float32, name="inverse_envelopes"),
                 tf.TensorSpec([None, None], tf.int32, name="index")]

    @tf.function(input_signature=signature, jit_compile=True)
    def iterations(magnitude, spectrum, inverse_envelopes, index):
        return _row_iterations(magnitude, spectrum, inverse_envelopes, index, n_fft, hop_size, win_size, n_iters)

    return iterations


def _rows_griffin_lim(magnitude, lengths, n_fft, hop_size, win_size, n_iters, initial_phase, seed,
                      padded_frames=None, jit_compile=False):
    """griffin_lim for rows of their own lengths (lengths [B] int32), the frames padded with zero magnitude
    to padded_frames (None: none); with jit_compile under XLA. Returns [B, T * hop_size]."""
    num_frames = tf.shape(magnitude)[1]
    lengths = tf.minimum(tf.cast(lengths, tf.int32), num_frames)
    magnitude = magnitude * tf.sequence_mask(lengths, num_frames, dtype=tf.float32)[:, :, tf.newaxis]
    spectrum = initial_spectrum(magnitude, n_fft, win_size, initial_phase, seed)
    total_frames = num_frames if padded_frames is None else padded_frames
    extra = [[0, 0], [0, total_frames - num_frames], [0, 0]]
    magnitude, spectrum = tf.pad(magnitude, extra), tf.pad(spectrum, extra)
    window = tf.signal.hann_window(win_size, periodic=True, dtype=tf.float32)
    inverse_envelopes = inverse_window_envelopes(window, lengths, total_frames, hop_size)
    _, pad = compact_geometry(n_fft, win_size)
    index = reflect_index(tf.maximum(lengths - 1, 0) * hop_size, (total_frames - 1) * hop_size, pad)
    if jit_compile:
        wav = _compiled_row_iterations(n_fft, hop_size, win_size, n_iters)(magnitude, spectrum, inverse_envelopes,
                                                                            index)
    else:
        wav = _row_iterations(magnitude, spectrum, inverse_envelopes, index, n_fft, hop_size, win_size, n_iters)
    return wav[:, :num_frames * hop_size]


def griffin_lim_xla(magnitude, n_fft, hop_size, win_size, n_iters, initial_phase=None, seed=0, lengths=None,
                    bucket_frames=XLA_BUCKET_FRAMES):
    """griffin_lim compiled by XLA, equal to it up to float round-off; arguments and result as griffin_lim's.

    XLA fuses the loop's elementwise work (the phase projection, the window products, the overlap-add), which
    takes about a fifth off on a 2-core Xeon, but it compiles once per input shape (about 0.15 s there). So
    the frames are padded with zero magnitude up to a multiple of bucket_frames, and every row is inverted at
    its own length inside the padded batch (_row_iterations): one compile serves every length of a bucket.
    The initial phase is drawn at the true length, outside the compiled function, so it is griffin_lim's
    (XLA's stateless random numbers differ from TensorFlow's).
    """
    magnitude = tf.convert_to_tensor(magnitude, tf.float32)
    num_frames = tf.shape(magnitude)[1]
    if lengths is None:
        lengths = tf.fill([tf.shape(magnitude)[0]], num_frames)
    padded_frames = num_frames + (-num_frames % bucket_frames)
    return _rows_griffin_lim(magnitude, lengths, n_fft, hop_size, win_size, n_iters, initial_phase, seed,
                             padded_frames=padded_frames, jit_compile=True)


class GriffinLim:
    """Normalised mel to waveform; the inverse mel basis is built once here and used as a constant.

    Arguments are the feature hyper-parameters (hparams: sample_rate, n_fft, hop_size, win_size,
    acoustic_dim -> n_mels, fmin, fmax, max_abs_value, min_db, ref_level_db,
    griffin_lim_power -> power, griffin_lim_iters -> n_iters); seed fixes the initial phase; jit_compile
    runs griffin_lim_xla (faster once each bucket of frame counts is compiled) instead of griffin_lim.
    """

    def __init__(self, sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, max_abs_value,
                 min_db, ref_level_db, power, n_iters, seed=0, jit_compile=False):
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
        self.jit_compile = jit_compile
        self.inverse_mel_basis = inverse_mel_basis_matrix(sample_rate, n_fft, n_mels, fmin, fmax)

    def __call__(self, mel, mel_lengths=None):
        """mel: [B, T, n_mels] normalised; mel_lengths: [B] int valid frames, or None for all T.

        Returns (wav [B, T * hop_size] float32, zero beyond each length; wav_lengths [B] int32 =
        mel_lengths * hop_size). Each row is inverted at its own length, so its wav is the one it gets alone
        (up to float round-off); a batch whose rows all have T frames runs griffin_lim's plain loop.
        """
        mel = tf.cast(mel, tf.float32)
        batch_size, num_frames = tf.shape(mel)[0], tf.shape(mel)[1]
        if mel_lengths is None:
            mel_lengths = tf.fill([batch_size], num_frames)
        mel_lengths = tf.cast(mel_lengths, tf.int32)

        amplitude = denormalize_mel(mel, self.max_abs_value, self.min_db, self.ref_level_db)
        magnitude = mel_to_linear(amplitude, tf.constant(self.inverse_mel_basis)) ** self.power

        sizes = dict(n_fft=self.n_fft, hop_size=self.hop_size, win_size=self.win_size, n_iters=self.n_iters,
                     seed=self.seed)
        if self.jit_compile:
            wav = griffin_lim_xla(magnitude, lengths=mel_lengths, **sizes)
        else:
            wav = tf.cond(tf.reduce_all(mel_lengths >= num_frames), lambda: griffin_lim(magnitude, **sizes),
                          lambda: griffin_lim(magnitude, lengths=mel_lengths, **sizes))
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


def griffin_lim_from_hparams(hp, jit_compile=False):
    """The in-graph Griffin-Lim vocoder with the course parameters (jit_compile: see GriffinLim)."""
    return GriffinLim(sample_rate=hp.sample_rate, n_fft=hp.n_fft, hop_size=hp.hop_size, win_size=hp.win_size,
                      n_mels=hp.acoustic_dim, fmin=hp.fmin, fmax=hp.fmax, max_abs_value=hp.max_abs_value,
                      min_db=hp.min_db, ref_level_db=hp.ref_level_db,
                      power=hp.griffin_lim_power, n_iters=hp.griffin_lim_iters, jit_compile=jit_compile)
