"""TF Griffin-Lim (and its STFT) against an independent NumPy/librosa reference written the course's way;
its XLA form against it."""
import glob
import os

import librosa
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from conftest import BIAOBEI_SAMPLE
from tacotron import griffin_lim
from tacotron import stft

SAMPLE_RATE = 16000
N_FFT = 2048
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 0.0
FMAX = 8000.0
MAX_ABS = 4.0
MIN_LEVEL_DB = -115.0
REF_LEVEL_DB = 20.0
POWER = 1.5
FEATURES = dict(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_size=HOP, win_size=WIN, n_mels=N_MELS, fmin=FMIN,
                fmax=FMAX, max_abs_value=MAX_ABS, min_db=MIN_LEVEL_DB, ref_level_db=REF_LEVEL_DB,
                power=POWER)


# ---- NumPy reference (the course's feature convention), independent of datasets/audio.py ----

def ref_stft(y):
    return librosa.stft(y, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=True,
                        pad_mode="reflect")


def ref_istft(spectrum, length=None):
    return librosa.istft(spectrum, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=True,
                         length=length)


def ref_normalize(mel_amplitude):
    """mel amplitude -> normalised mel, symmetric in [-MAX_ABS, MAX_ABS]."""
    db = 20.0 * np.log10(np.maximum(mel_amplitude, 10.0 ** (MIN_LEVEL_DB / 20.0))) - REF_LEVEL_DB
    return np.clip(2 * MAX_ABS * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS, -MAX_ABS, MAX_ABS)


def ref_mel(y):
    """Normalised mel [T, N_MELS] float32 with T = len(y) // HOP."""
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    mel = ref_normalize(basis @ np.abs(ref_stft(y)))
    return mel.T[:len(y) // HOP].astype(np.float32)


def ref_target_magnitude(mel):
    """Course inversion up to Griffin-Lim: [T, N_MELS] normalised -> [1 + N_FFT // 2, T] magnitude."""
    mel = np.clip(mel.T.astype(np.float64), -MAX_ABS, MAX_ABS)
    db = (mel + MAX_ABS) * -MIN_LEVEL_DB / (2 * MAX_ABS) + MIN_LEVEL_DB
    amplitude = 10.0 ** ((db + REF_LEVEL_DB) * 0.05)
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    return np.maximum(1e-10, np.linalg.pinv(basis) @ amplitude) ** POWER


def ref_griffin_lim(magnitude, angles, n_iters):
    """The course loop: magnitude [F, T], initial angles [F, T]; returns (T - 1) * HOP samples."""
    y = ref_istft(magnitude * np.exp(1j * angles))
    for _ in range(n_iters):
        y = ref_istft(magnitude * np.exp(1j * np.angle(ref_stft(y))))
    return y


def spectral_convergence(magnitude, y):
    """||S - |STFT(y)|||_F / ||S||_F for magnitude [F, T] and y of (T - 1) * HOP samples."""
    rebuilt = np.abs(ref_stft(y.astype(np.float32)))
    return np.linalg.norm(magnitude - rebuilt) / np.linalg.norm(magnitude)


def speech_signal(seconds):
    """The first Biaobei sample (16 kHz) if present, else a synthetic harmonic signal; len % HOP == 0."""
    length = int(seconds * SAMPLE_RATE) // HOP * HOP
    wavs = sorted(glob.glob(os.path.join(BIAOBEI_SAMPLE, "wavs", "*.wav")))
    if wavs:
        y, sr = soundfile.read(wavs[0], dtype="float32")
        assert sr == SAMPLE_RATE
        start = max(0, min(len(y) - length, SAMPLE_RATE // 2))
        return y[start:start + length]
    t = np.arange(length) / SAMPLE_RATE
    f0 = 120.0 + 40.0 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    y = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t) ** 2)
    return (0.3 * y).astype(np.float32)


# ---- tests ----

def test_denormalize_inverts_reference_normalize():
    rng = np.random.default_rng(0)
    # Inside the normalisation range: 10 ** ((MIN_LEVEL_DB + REF_LEVEL_DB) / 20) .. 10 ** (REF_LEVEL_DB / 20).
    amplitude = 10.0 ** rng.uniform(-4.5, 0.9, size=(2, 7, N_MELS))
    mel = ref_normalize(amplitude).astype(np.float32)
    back = griffin_lim.denormalize_mel(mel, MAX_ABS, MIN_LEVEL_DB, REF_LEVEL_DB).numpy()
    np.testing.assert_allclose(back, amplitude, rtol=1e-4)
    clipped = griffin_lim.denormalize_mel(np.array([[[9.0, -9.0]]], np.float32), MAX_ABS, MIN_LEVEL_DB,
                                          REF_LEVEL_DB).numpy()
    expected = 10.0 ** ((np.array([0.0, MIN_LEVEL_DB]) + REF_LEVEL_DB) / 20.0)
    np.testing.assert_allclose(clipped[0, 0], expected, rtol=1e-5)


def test_mel_to_linear_matches_pinv():
    inverse = griffin_lim.inverse_mel_basis_matrix(SAMPLE_RATE, N_FFT, N_MELS, FMIN, FMAX)
    assert inverse.shape == (N_MELS, N_FFT // 2 + 1) and inverse.dtype == np.float32
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    amplitude = np.random.default_rng(1).uniform(0.0, 2.0, size=(2, 5, N_MELS)).astype(np.float32)
    linear = griffin_lim.mel_to_linear(amplitude, inverse).numpy()
    expected = np.maximum(1e-10, np.einsum("fm,btm->btf", np.linalg.pinv(basis), amplitude))
    np.testing.assert_allclose(linear, expected, rtol=1e-4, atol=1e-5)
    assert linear.min() >= 1e-10


@pytest.mark.parametrize("length", [0, 1, 2, 7, 3050])
def test_reflect_pad_is_numpy_reflect_for_any_length(length):
    signal = np.random.default_rng(length).standard_normal((2, length)).astype(np.float32)
    padded = stft.reflect_pad(signal, N_FFT // 2).numpy()
    expected = (np.pad(signal, [[0, 0], [N_FFT // 2, N_FFT // 2]], mode="reflect") if length
                else np.zeros((2, N_FFT), np.float32))
    np.testing.assert_array_equal(padded, expected)


def test_stft_matches_librosa():
    y = np.random.default_rng(2).standard_normal(3050).astype(np.float32)  # not a multiple of HOP
    expected = ref_stft(y).T
    ours = stft.stft(y[np.newaxis], N_FFT, HOP, WIN).numpy()[0]
    assert ours.shape == expected.shape == (1 + 3050 // HOP, N_FFT // 2 + 1)
    np.testing.assert_allclose(ours, expected, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(np.abs(ours), np.abs(expected), atol=1e-4 * np.abs(expected).max())


def test_istft_of_exact_stft_reconstructs_signal():
    y = np.random.default_rng(3).standard_normal(3050).astype(np.float32)
    spectrum = ref_stft(y)
    length = spectrum.shape[1] * HOP
    ours = stft.istft(spectrum.T[np.newaxis], N_FFT, HOP, WIN, length).numpy()[0]
    assert ours.shape == (length,)
    np.testing.assert_allclose(ours[:len(y)], y, atol=1e-5)
    np.testing.assert_allclose(ours, ref_istft(spectrum, length=length), atol=1e-5)
    # librosa's default length ((T - 1) * HOP) is a prefix.
    short = stft.istft(spectrum.T[np.newaxis], N_FFT, HOP, WIN, length - HOP).numpy()[0]
    np.testing.assert_allclose(short, ref_istft(spectrum), atol=1e-5)


def test_griffin_lim_matches_course_reference():
    n_iters = 8
    mel = ref_mel(speech_signal(1.0))
    frames = mel.shape[0]
    magnitude = ref_target_magnitude(mel)
    angles = 2 * np.pi * np.random.default_rng(4).random(magnitude.shape)
    expected = ref_griffin_lim(magnitude, angles, n_iters)

    ours = griffin_lim.griffin_lim(magnitude.T[np.newaxis].astype(np.float32), N_FFT, HOP, WIN, n_iters,
                                   initial_phase=angles.T.astype(np.float32)).numpy()[0]
    assert ours.shape == (frames * HOP,) and expected.shape == ((frames - 1) * HOP,)
    ours_sc = spectral_convergence(magnitude, ours[:(frames - 1) * HOP])
    expected_sc = spectral_convergence(magnitude, expected)
    assert ours_sc <= 1.1 * expected_sc + 0.02, (ours_sc, expected_sc)
    # Same phase, same loop: the waveforms agree up to float32 round-off.
    scale = np.abs(expected).max()
    np.testing.assert_allclose(ours[:(frames - 1) * HOP], expected, atol=1e-4 * scale)
    # Iterating helps: the reconstruction is better than the initial-phase one.
    assert ours_sc < spectral_convergence(magnitude, ref_griffin_lim(magnitude, angles, 0))


def test_griffin_lim_is_deterministic_without_initial_phase():
    magnitude = np.random.default_rng(5).uniform(0.0, 1.0, size=(1, 6, N_FFT // 2 + 1)).astype(np.float32)
    first = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, 2).numpy()
    second = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, 2).numpy()
    other_seed = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, 2, seed=1).numpy()
    assert first.shape == (1, 6 * HOP)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other_seed)


def test_mel_to_wav_lengths_and_masking():
    mel = ref_mel(speech_signal(0.5))
    frames = mel.shape[0]
    short = frames - 7
    batch = np.full((2, frames, N_MELS), -MAX_ABS, np.float32)
    batch[0] = mel
    batch[1, :short] = mel[:short]
    inverter = griffin_lim.GriffinLim(n_iters=3, **FEATURES)
    wav, wav_lengths = inverter(batch, mel_lengths=np.array([frames, short], np.int32))
    wav = wav.numpy()
    assert wav.shape == (2, frames * HOP) and wav.dtype == np.float32
    np.testing.assert_array_equal(wav_lengths.numpy(), [frames * HOP, short * HOP])
    assert np.all(wav[1, short * HOP:] == 0.0) and np.abs(wav[1, :short * HOP]).max() > 1e-3
    # No item depends on its batch mates: each is inverted at its own length; mel_to_wav is the same computation.
    alone, alone_lengths = griffin_lim.mel_to_wav(mel[np.newaxis], n_iters=3, **FEATURES)
    np.testing.assert_allclose(wav[0], alone.numpy()[0], atol=1e-6)
    np.testing.assert_array_equal(alone_lengths.numpy(), [frames * HOP])
    short_alone, _ = griffin_lim.mel_to_wav(mel[np.newaxis, :short], n_iters=3, **FEATURES)
    np.testing.assert_allclose(wav[1, :short * HOP], short_alone.numpy()[0], atol=1e-6)


def test_tf_function_and_saved_model(tmp_path):
    inverter = griffin_lim.GriffinLim(n_iters=2, **FEATURES)
    module = tf.Module()
    module.synthesize = tf.function(
        lambda mel, mel_lengths: inverter(mel, mel_lengths),
        input_signature=[tf.TensorSpec([None, None, N_MELS], tf.float32), tf.TensorSpec([None], tf.int32)])
    mel = np.random.default_rng(6).uniform(-MAX_ABS, MAX_ABS, size=(2, 9, N_MELS)).astype(np.float32)
    lengths = np.array([9, 5], np.int32)
    eager_wav, _ = inverter(mel, lengths)
    graph_wav, graph_lengths = module.synthesize(mel, lengths)
    # Float32 rounding relative to the signal's scale (this random mel is loud: peak ~27).
    np.testing.assert_allclose(graph_wav.numpy(), eager_wav.numpy(), atol=1e-6 * np.abs(eager_wav).max())
    np.testing.assert_array_equal(graph_lengths.numpy(), lengths * HOP)

    tf.saved_model.save(module, str(tmp_path / "griffin_lim"))
    loaded = tf.saved_model.load(str(tmp_path / "griffin_lim"))
    loaded_wav, _ = loaded.synthesize(tf.constant(mel[:1, :4]), tf.constant([4]))
    expected, _ = inverter(mel[:1, :4], np.array([4], np.int32))
    assert loaded_wav.shape == (1, 4 * HOP)
    np.testing.assert_allclose(loaded_wav.numpy(), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("n_iters", [0, 1])
def test_few_iterations_and_single_frame(n_iters):
    magnitude = np.ones((2, 1, N_FFT // 2 + 1), np.float32)
    wav = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, n_iters).numpy()
    assert wav.shape == (2, HOP) and np.all(np.isfinite(wav))


# ---- the XLA form ----

def test_reflect_index_pads_each_row_at_its_length_under_xla():
    pad, total = 400, 800
    lengths = np.array([0, 1, 2, 7, 401, 450, 800], np.int32)
    signal = np.random.default_rng(7).standard_normal((len(lengths), total)).astype(np.float32)
    expected = np.zeros((len(lengths), total + 2 * pad), np.float32)
    for row, length in enumerate(lengths):
        if length:
            expected[row, :length + 2 * pad] = np.pad(signal[row, :length], pad, mode="reflect")

    def padded(signal, lengths):
        return tf.gather(tf.pad(signal, [[0, 0], [0, 1]]), stft.reflect_index(lengths, total, pad), batch_dims=1)

    np.testing.assert_array_equal(padded(signal, lengths).numpy(), expected)
    np.testing.assert_array_equal(tf.function(padded, jit_compile=True)(signal, lengths).numpy(), expected)


def _speech_magnitudes(frames, short):
    """[2, frames, F] float32 target magnitudes of speech; the second row zero from frame `short` on."""
    mel = ref_mel(speech_signal(max(frames, 64) * HOP / SAMPLE_RATE))[:frames]
    magnitude = ref_target_magnitude(mel).T.astype(np.float32)
    batch = np.stack([magnitude, magnitude])
    batch[1, short:] = 0.0
    return batch


@pytest.mark.parametrize("frames", [45, 64])  # XLA pads to the next bucket (64); on a bucket
def test_rows_of_a_batch_are_inverted_as_if_alone(frames):
    short = frames - 9
    magnitude = _speech_magnitudes(frames, short)
    lengths = np.array([frames, short], np.int32)
    alone = [griffin_lim.griffin_lim(magnitude[row:row + 1, :length], N_FFT, HOP, WIN, 10).numpy()[0]
             for row, length in enumerate(lengths)]
    alone_xla = [griffin_lim.griffin_lim_xla(magnitude[row:row + 1, :length], N_FFT, HOP, WIN, 10).numpy()[0]
                 for row, length in enumerate(lengths)]
    rows = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, 10, lengths=lengths).numpy()
    rows_xla = griffin_lim.griffin_lim_xla(magnitude, N_FFT, HOP, WIN, 10, lengths=lengths).numpy()
    full_rows_xla = griffin_lim.griffin_lim_xla(magnitude, N_FFT, HOP, WIN, 10).numpy()
    assert rows.shape == rows_xla.shape == (2, frames * HOP)
    np.testing.assert_allclose(full_rows_xla[0], alone_xla[0], atol=1e-6 * np.abs(alone_xla[0]).max())
    for row, length in enumerate(lengths):
        # Each path gives a row of a batch what it gives the row alone: the same ops on the same numbers
        # (bit for bit without XLA; XLA may vectorise a batch of two differently from a batch of one).
        np.testing.assert_array_equal(rows[row, :length * HOP], alone[row])
        np.testing.assert_allclose(rows_xla[row, :length * HOP], alone_xla[row],
                                   atol=1e-6 * np.abs(alone_xla[row]).max())
        # XLA against the plain loop: float32 round-off (XLA fuses and orders the arithmetic its own way),
        # which ten Griffin-Lim iterations amplify unevenly: a few samples can reach 1e-5 of the peak.
        assert np.linalg.norm(alone_xla[row] - alone[row]) <= 1e-5 * np.linalg.norm(alone[row])
    # The plain loop on the batch (reflection and window envelope at the batch's end) is off by far more in
    # the short row.
    batch_end = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, 10).numpy()[1, :short * HOP]
    assert np.abs(batch_end - alone[1]).max() > 1e-2 * np.abs(alone[1]).max()


def test_griffin_lim_xla_on_a_few_frames():
    magnitude = _speech_magnitudes(3, 2)
    expected = griffin_lim.griffin_lim(magnitude, N_FFT, HOP, WIN, 4).numpy()
    np.testing.assert_allclose(griffin_lim.griffin_lim_xla(magnitude, N_FFT, HOP, WIN, 4).numpy(), expected,
                               atol=1e-5 * np.abs(expected).max())


def test_griffin_lim_vocoder_with_jit_compile_in_a_graph():
    mel = ref_mel(speech_signal(0.5))
    frames = mel.shape[0]
    batch = np.full((2, frames, N_MELS), -MAX_ABS, np.float32)
    batch[0], batch[1, :frames - 5] = mel, mel[:frames - 5]
    lengths = np.array([frames, frames - 5], np.int32)
    signature = [tf.TensorSpec([None, None, N_MELS], tf.float32), tf.TensorSpec([None], tf.int32)]
    wavs = []
    for jit_compile in (False, True):
        inverter = griffin_lim.GriffinLim(n_iters=6, jit_compile=jit_compile, **FEATURES)
        wavs.append(tf.function(inverter, input_signature=signature)(batch, lengths)[0].numpy())
    assert wavs[1].shape == (2, frames * HOP) and np.all(wavs[1][1, (frames - 5) * HOP:] == 0.0)
    np.testing.assert_allclose(wavs[1], wavs[0], atol=1e-5 * np.abs(wavs[0]).max())
