"""Features match the course's pipeline (utils/audio.py + datasets/acoustic_extractor.py of the course, run
with librosa 0.7) on every frame of the Biaobei sample, edges included.

The reference below is written from the course's steps, independently of datasets/audio.py: load at 16 kHz,
trim with librosa.effects.trim and the course's margins, float32 centred STFT with reflect padding (librosa
0.7's default), Slaney mel, amp_to_db with min_level_db, minus ref_level_db, normalised with min_db, then
cut to floor(samples / hop) frames.
"""
import glob
import os

import librosa
import numpy as np
import pytest

import hparams as hparams_lib
from conftest import BIAOBEI_SAMPLE
from datasets import audio
from datasets.preprocessor import feature_settings

needs_biaobei = pytest.mark.skipif(not os.path.isdir(BIAOBEI_SAMPLE), reason="Biaobei sample not present")


def course_features(path, hp):
    """(wav, mel [T, n_mels]) the course's way."""
    wav, _ = librosa.load(path, sr=hp.sample_rate)
    _, (start, end) = librosa.effects.trim(wav, top_db=hp.trim_top_db, frame_length=hp.trim_fft_size,
                                           hop_length=hp.trim_hop_size)
    margin = int(hp.num_silent_frames * hp.hop_size)
    wav = wav[max(start - margin // 2, 0):min(end + margin * 2, len(wav))]
    spectrum = librosa.stft(y=wav, n_fft=hp.n_fft, hop_length=hp.hop_size, win_length=hp.win_size,
                            pad_mode="reflect")
    basis = librosa.filters.mel(sr=hp.sample_rate, n_fft=hp.n_fft, n_mels=hp.acoustic_dim, fmin=hp.fmin,
                                fmax=hp.fmax)
    floor = np.exp(hp.min_level_db / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(floor, basis @ np.abs(spectrum))) - hp.ref_level_db
    mel = np.clip(2 * hp.max_abs_value * ((db - hp.min_db) / -hp.min_db) - hp.max_abs_value,
                  -hp.max_abs_value, hp.max_abs_value).astype(np.float32)
    frames = int(min(len(wav) / hp.hop_size, mel.shape[1]))
    return wav[:frames * hp.hop_size], mel[:, :frames].T


@needs_biaobei
def test_every_frame_matches_the_course_pipeline_on_the_biaobei_sample():
    hp = hparams_lib.load_hparams()
    paths = sorted(glob.glob(os.path.join(BIAOBEI_SAMPLE, "wavs", "*.wav")))
    assert len(paths) == 50
    worst = 0.0
    for path in paths:
        expected_wav, expected_mel = course_features(path, hp)
        wav, mel = audio.features_from_wav(audio.load_wav(path, hp.sample_rate), **feature_settings(hp))
        assert mel.shape == expected_mel.shape, path
        np.testing.assert_allclose(wav, expected_wav, atol=1e-6, err_msg=path)
        difference = np.abs(mel - expected_mel)
        worst = max(worst, float(difference.max()))
        # Edges included: the first and last frames are where zero padding used to differ by up to 1.39.
        assert difference[0].max() < 0.05 and difference[-1].max() < 0.05, path
    assert worst < 0.05


def test_min_db_is_the_normalisation_floor_and_min_level_db_the_amplitude_floor():
    rng = np.random.default_rng(0)
    wav = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    wav[1500:2500] = 0.0
    hp = hparams_lib.load_hparams()
    base = dict(feature_settings(hp))
    for name in ("trim_top_db", "trim_frame_length", "trim_hop_length", "num_silent_frames"):
        base.pop(name)
    mel = audio.melspectrogram(wav, **base)
    shifted_floor = audio.melspectrogram(wav, **dict(base, min_db=-100.0))
    # The same dB values normalised against another floor: an affine map of the unclipped values.
    db = audio.denormalize(mel, -115.0, 4.0)
    inside = (mel > -4.0) & (mel < 4.0) & (db > -100.0)
    np.testing.assert_allclose(shifted_floor[inside], audio.normalize(db, -100.0, 4.0)[inside], atol=1e-4)
    raised_level = audio.melspectrogram(wav, **dict(base, min_level_db=-60.0))
    assert raised_level.min() > mel.min()  # silence now floors at -60 dB before normalisation
