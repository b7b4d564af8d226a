"""Feature pipeline: mel parity with an independent NumPy computation, trim margins, alignment, loading."""
import os

import librosa
import numpy as np
import pytest
import soundfile

from conftest import BIAOBEI_SAMPLE
from datasets import audio

SR = 16000
MEL_ARGS = dict(sample_rate=SR, n_fft=2048, hop_size=200, win_size=800, n_mels=80, fmin=0.0, fmax=8000.0,
                min_level_db=-115.0, ref_level_db=20.0, max_abs_value=4.0, min_db=-115.0)
FEATURE_ARGS = dict(MEL_ARGS, trim_top_db=30.0, trim_frame_length=512, trim_hop_length=128,
                    num_silent_frames=4)
needs_biaobei = pytest.mark.skipif(not os.path.isdir(BIAOBEI_SAMPLE), reason="Biaobei sample not present")


def reference_mel(wav, sample_rate, n_fft, hop_size, win_size, n_mels, fmin, fmax, min_level_db,
                  ref_level_db, max_abs_value, min_db):
    """Independent: explicit mirror padding (the sample at the edge not repeated), framing by index
    arithmetic, a hand-written periodic Hann window, numpy rfft, einsum with the filter bank, natural-log
    based dB, explicit normalisation with the min_db floor."""
    wav = np.asarray(wav, np.float64)
    pad = n_fft // 2
    signal = np.concatenate([wav[1:pad + 1][::-1], wav, wav[-pad - 1:-1][::-1]])
    n = np.arange(win_size)
    window = np.zeros(n_fft)
    left = (n_fft - win_size) // 2
    window[left:left + win_size] = 0.5 * (1.0 - np.cos(2.0 * np.pi * n / win_size))
    num_frames = 1 + (len(signal) - n_fft) // hop_size
    index = hop_size * np.arange(num_frames)[:, None] + np.arange(n_fft)[None, :]
    magnitude = np.abs(np.fft.rfft(signal[index] * window, axis=1))  # [T, F]
    filters = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                  dtype=np.float64)
    mel = np.einsum("tf,mf->tm", magnitude, filters)
    floor = np.exp(min_level_db / 20.0 * np.log(10.0))
    db = 20.0 * np.log(np.where(mel > floor, mel, floor)) / np.log(10.0) - ref_level_db
    scaled = (db - min_db) / (-min_db) * (2.0 * max_abs_value) - max_abs_value
    return np.minimum(np.maximum(scaled, -max_abs_value), max_abs_value)


def tone(seconds, freq=220.0, amplitude=0.5, sample_rate=SR):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t) * (1.0 + 0.3 * np.sin(2 * np.pi * 3.0 * t)) / 1.3)


def test_mel_matches_independent_computation_on_synthetic_signal():
    rng = np.random.default_rng(0)
    wav = (tone(0.7, 180.0) + tone(0.7, 1250.0, 0.2) + 0.01 * rng.standard_normal(int(0.7 * SR)))
    wav = np.concatenate([np.zeros(1000), wav, np.zeros(500)]).astype(np.float32)
    mel = audio.melspectrogram(wav, **MEL_ARGS)
    expected = reference_mel(wav, **MEL_ARGS)
    assert mel.dtype == np.float32
    assert mel.shape == expected.shape == (1 + len(wav) // 200, 80)
    assert np.max(np.abs(mel - expected)) < 1e-4
    # Not degenerate: the comparison covers clipped and unclipped values.
    assert mel.min() == -4.0 and -4.0 < np.median(mel) < 4.0


@needs_biaobei
def test_mel_matches_independent_computation_on_biaobei():
    wav = audio.load_wav(os.path.join(BIAOBEI_SAMPLE, "wavs", "000001.wav"), SR)
    mel = audio.melspectrogram(wav, **MEL_ARGS)
    expected = reference_mel(wav, **MEL_ARGS)
    assert mel.shape == expected.shape
    assert np.max(np.abs(mel - expected)) < 1e-4
    assert mel.max() > 0.0 and mel.std() > 0.5


@needs_biaobei
def test_features_from_wav_aligns_frames_and_samples_on_biaobei():
    for name in ("000002.wav", "000003.wav"):
        wav = audio.load_wav(os.path.join(BIAOBEI_SAMPLE, "wavs", name), SR)
        out_wav, mel = audio.features_from_wav(wav, **FEATURE_ARGS)
        assert mel.shape[1] == 80 and mel.shape[0] > 50
        assert len(out_wav) == mel.shape[0] * 200
        assert len(out_wav) <= len(wav)
        trimmed = audio.trim_silence(wav, 30.0, 512, 128, 4, 200)
        np.testing.assert_array_equal(out_wav, trimmed[:len(out_wav)])
        np.testing.assert_array_equal(mel, audio.melspectrogram(trimmed, **MEL_ARGS)[:mel.shape[0]])


def test_peak_normalize_int16_is_the_courses_save_wav_norm():
    loud = np.array([0.0, 0.25, -0.5, 0.1])
    np.testing.assert_array_equal(audio.peak_normalize_int16(loud), [0, 16383, -32767, 6553])
    quiet = np.array([0.001, -0.005])  # peak below 0.01: scaled as if the peak were 0.01
    np.testing.assert_array_equal(audio.peak_normalize_int16(quiet), [3276, -16383])
    assert audio.peak_normalize_int16(np.zeros(3)).tolist() == [0, 0, 0]
    assert audio.peak_normalize_int16(loud).dtype == np.int16


def test_align_lengths():
    wav = np.arange(1234, dtype=np.float32)
    mel = np.zeros((1 + 1234 // 200, 80), np.float32)
    out_wav, out_mel = audio.align_lengths(wav, mel, 200)
    assert out_mel.shape[0] == 1234 // 200 == 6
    assert len(out_wav) == 1200
    np.testing.assert_array_equal(out_wav, wav[:1200])


def test_trim_keeps_stated_margins():
    silence_before, voiced, silence_after = 8000, 12000, 9000
    wav = np.concatenate([np.zeros(silence_before), tone(voiced / SR, 300.0), np.zeros(silence_after)])
    wav = wav.astype(np.float32)
    trimmed = audio.trim_silence(wav, top_db=30.0, frame_length=512, hop_length=128, num_silent_frames=4,
                                 hop_size=200)
    _, (start, end) = librosa.effects.trim(wav, top_db=30.0, frame_length=512, hop_length=128)
    # librosa's interval is the voiced part to within a trimmer frame.
    assert abs(start - silence_before) <= 512 and abs(end - (silence_before + voiced)) <= 512
    before, after = 4 * 200 // 2, 2 * 4 * 200
    np.testing.assert_array_equal(trimmed, wav[start - before:end + after])
    assert len(trimmed) == end - start + 400 + 1600


def test_trim_margins_are_clipped_to_the_signal():
    wav = np.concatenate([np.zeros(100), tone(0.5, 300.0), np.zeros(300)]).astype(np.float32)
    trimmed = audio.trim_silence(wav, 30.0, 512, 128, 4, 200)
    _, (start, end) = librosa.effects.trim(wav, top_db=30.0, frame_length=512, hop_length=128)
    assert start < 400 and end + 1600 > len(wav)
    np.testing.assert_array_equal(trimmed, wav)


def test_normalize_denormalize_and_db_round_trip():
    db = np.linspace(-115.0, 0.0, 11)
    normalized = audio.normalize(db, -115.0, 4.0)
    assert normalized[0] == pytest.approx(-4.0) and normalized[-1] == pytest.approx(4.0)
    np.testing.assert_allclose(audio.denormalize(normalized, -115.0, 4.0), db, atol=1e-9)
    assert audio.normalize(np.array([-200.0, 50.0]), -115.0, 4.0).tolist() == [-4.0, 4.0]
    assert audio.denormalize(np.array([9.0]), -115.0, 4.0)[0] == pytest.approx(0.0)
    amplitude = np.array([1e-3, 0.1, 2.0])
    np.testing.assert_allclose(audio.db_to_amp(audio.amp_to_db(amplitude, -115.0)), amplitude, rtol=1e-12)
    assert audio.amp_to_db(np.array([0.0]), -115.0)[0] == pytest.approx(-115.0)


def test_load_resamples_and_mixes_to_mono(tmp_path):
    rate = 22050
    mono = tone(1.0, 440.0, 0.8, sample_rate=rate)
    path = str(tmp_path / "stereo22k.wav")
    soundfile.write(path, np.stack([mono, 0.5 * mono], axis=1), rate, subtype="PCM_16")
    wav = audio.load_wav(path, SR)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) - SR) <= 1
    spectrum = np.abs(np.fft.rfft(wav))
    assert np.argmax(spectrum) * SR / len(wav) == pytest.approx(440.0, abs=2.0)
    assert np.max(np.abs(wav)) == pytest.approx(0.75 * 0.8, rel=0.05)


def test_load_stereo_at_target_rate_is_channel_mean(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.uniform(-0.5, 0.5, size=(4000, 2))
    path = str(tmp_path / "stereo16k.wav")
    soundfile.write(path, stereo, SR, subtype="FLOAT")
    wav = audio.load_wav(path, SR)
    np.testing.assert_allclose(wav, stereo.mean(axis=1), atol=1e-6)


def test_load_errors_name_the_file(tmp_path):
    good = str(tmp_path / "good.wav")
    soundfile.write(good, tone(0.5), SR, subtype="PCM_16")
    data = open(good, "rb").read()
    cases = {"header_only.wav": data[:44], "cut.wav": data[:44 + 3001], "garbage.wav": b"not audio at all",
             "zero_bytes.wav": b""}
    for name, content in cases.items():
        path = str(tmp_path / name)
        with open(path, "wb") as handle:
            handle.write(content)
        with pytest.raises(audio.AudioError, match=name):
            audio.load_wav(path, SR)
    with pytest.raises(audio.AudioError, match="truncated"):
        audio.load_wav(str(tmp_path / "cut.wav"), SR)
    with pytest.raises(audio.AudioError, match="missing"):
        audio.load_wav(str(tmp_path / "absent.wav"), SR)
    empty = str(tmp_path / "empty_data.wav")
    soundfile.write(empty, np.zeros(0), SR, subtype="PCM_16")
    with pytest.raises(audio.AudioError, match="empty"):
        audio.load_wav(empty, SR)
    assert len(audio.load_wav(good, SR)) == SR // 2


def test_peak_db():
    assert audio.peak_db(np.zeros(10, np.float32)) == -np.inf
    assert audio.peak_db(np.array([0.0, -0.5, 0.1])) == pytest.approx(20 * np.log10(0.5))
