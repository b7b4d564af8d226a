"""Real-time factor of the TF Griffin-Lim (tf.function, warm; and under XLA) beside the course's librosa loop.

    .venv/bin/python benchmarks/griffin_lim_speed.py --seconds 4 --iters 60 --batch_size 1 --repeats 2

RTF = wall-clock seconds spent / seconds of audio produced (lower is faster; < 1 is faster than real
time). The mel comes from a synthetic harmonic signal (or --wav) with the course's features; all
inversions start from the same random phase, and their spectral convergence is printed as a sanity check.
The XLA form (GriffinLim(jit_compile=True), frames padded to a bucket) is timed warm too; its first call,
which compiles the bucket, is printed beside it.
"""
import os
import sys
import time

from absl import app
from absl import flags
import librosa
import numpy as np
import soundfile
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tacotron import griffin_lim  # noqa: E402  (after the sys.path line, to run as a script)

FLAGS = flags.FLAGS
flags.DEFINE_float("seconds", 4.0, "Seconds of audio per utterance.")
flags.DEFINE_integer("iters", 60, "Griffin-Lim iterations (the course uses 60).")
flags.DEFINE_integer("batch_size", 1, "Utterances per TF call (librosa loops over them).")
flags.DEFINE_integer("repeats", 2, "Timed runs of each; the fastest is reported.")
flags.DEFINE_string("wav", None, "Optional 16 kHz wav to take the mel from instead of a synthetic signal.")

# The course's feature hyper-parameters.
SAMPLE_RATE, N_FFT, HOP, WIN, N_MELS, FMIN, FMAX = 16000, 2048, 200, 800, 80, 0.0, 8000.0
MAX_ABS, MIN_LEVEL_DB, REF_LEVEL_DB, POWER = 4.0, -115.0, 20.0, 1.5


def make_signal(seconds, wav_path):
    """Float32 signal of about `seconds`, a multiple of HOP long."""
    length = int(seconds * SAMPLE_RATE) // HOP * HOP
    if wav_path:
        y, sr = soundfile.read(wav_path, dtype="float32")
        if sr != SAMPLE_RATE:
            y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
        return np.resize(y, length).astype(np.float32)
    t = np.arange(length) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(120.0 + 40.0 * np.sin(2 * np.pi * 1.5 * t)) / SAMPLE_RATE
    y = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t) ** 2)
    return (0.3 * y).astype(np.float32)


def course_stft(y):
    return librosa.stft(y, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=True,
                        pad_mode="reflect")


def course_istft(spectrum):
    return librosa.istft(spectrum, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=True)


def course_mel(y, basis):
    """Normalised mel [T, N_MELS], T = len(y) // HOP."""
    db = 20 * np.log10(np.maximum(basis @ np.abs(course_stft(y)), 10 ** (MIN_LEVEL_DB / 20))) - REF_LEVEL_DB
    mel = np.clip(2 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS, -MAX_ABS, MAX_ABS)
    return mel.T[:len(y) // HOP].astype(np.float32)


def course_mel_to_wav(mel, inverse_basis, angles, n_iters):
    """The course's inversion: mel [T, N_MELS], angles [F, T] -> (T - 1) * HOP samples, and the target."""
    db = (np.clip(mel.T, -MAX_ABS, MAX_ABS) + MAX_ABS) * -MIN_LEVEL_DB / (2 * MAX_ABS) + MIN_LEVEL_DB
    magnitude = np.maximum(1e-10, inverse_basis @ 10 ** ((db + REF_LEVEL_DB) * 0.05)) ** POWER
    y = course_istft(magnitude * np.exp(1j * angles))
    for _ in range(n_iters):
        y = course_istft(magnitude * np.exp(1j * np.angle(course_stft(y))))
    return y, magnitude


def spectral_convergence(magnitude, y):
    """magnitude: [F, T]; y: at least (T - 1) * HOP samples."""
    frames = magnitude.shape[1]
    rebuilt = np.abs(course_stft(np.asarray(y[:(frames - 1) * HOP], np.float32)))
    return np.linalg.norm(magnitude - rebuilt) / np.linalg.norm(magnitude)


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv):
    del argv
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    inverse_basis = np.linalg.pinv(basis)
    mel = course_mel(make_signal(FLAGS.seconds, FLAGS.wav), basis)
    frames = mel.shape[0]
    batch = np.repeat(mel[np.newaxis], FLAGS.batch_size, axis=0)
    audio_seconds = FLAGS.batch_size * frames * HOP / SAMPLE_RATE

    inverters, synthesizers = {}, {}
    for jit_compile in (False, True):
        inverters[jit_compile] = griffin_lim.GriffinLim(SAMPLE_RATE, N_FFT, HOP, WIN, N_MELS, FMIN, FMAX, MAX_ABS,
                                                        MIN_LEVEL_DB, REF_LEVEL_DB, POWER, FLAGS.iters,
                                                        jit_compile=jit_compile)
        synthesizers[jit_compile] = tf.function(lambda m, inverter=inverters[jit_compile]: inverter(m)[0],
                                                input_signature=[tf.TensorSpec([None, None, N_MELS], tf.float32)])
    inverter, synthesize, synthesize_xla = inverters[False], synthesizers[False], synthesizers[True]
    tf_wav = synthesize(batch).numpy()  # warm-up: trace and first run
    start = time.perf_counter()
    xla_wav = synthesize_xla(batch).numpy()  # trace, compile the bucket and run
    xla_first = time.perf_counter() - start
    tf_time = best_time(lambda: synthesize(batch).numpy(), FLAGS.repeats)
    xla_time = best_time(lambda: synthesize_xla(batch).numpy(), FLAGS.repeats)

    # The same initial phase as the TF version (shared by the batch), as [F, T] for librosa.
    angles = griffin_lim.random_phase(frames, N_FFT // 2 + 1, inverter.seed).numpy().T
    results = []
    librosa_time = best_time(
        lambda: results.append([course_mel_to_wav(m, inverse_basis, angles, FLAGS.iters) for m in batch]),
        FLAGS.repeats)
    librosa_wav, magnitude = results[-1][0]

    print(f"mel: batch {FLAGS.batch_size} x {frames} frames ({audio_seconds:.2f} s of audio), "
          f"{FLAGS.iters} iterations, {os.cpu_count()} CPUs, TF devices: "
          f"{[device.device_type for device in tf.config.list_logical_devices()]}")
    print(f"TF Griffin-Lim (tf.function, warm): {tf_time:.3f} s  RTF {tf_time / audio_seconds:.4f}  "
          f"spectral convergence {spectral_convergence(magnitude, tf_wav[0]):.4f}")
    print(f"TF Griffin-Lim, XLA (warm):        {xla_time:.3f} s  RTF {xla_time / audio_seconds:.4f}  "
          f"spectral convergence {spectral_convergence(magnitude, xla_wav[0]):.4f}  "
          f"(first call, compiling: {xla_first:.3f} s)")
    print(f"librosa loop (course):             {librosa_time:.3f} s  RTF {librosa_time / audio_seconds:.4f}  "
          f"spectral convergence {spectral_convergence(magnitude, librosa_wav):.4f}")
    print(f"speed-up of TF over librosa: {librosa_time / tf_time:.2f}x")
    print(f"speed-up of XLA over TF: {tf_time / xla_time:.2f}x")


if __name__ == "__main__":
    app.run(main)
