"""Synthesis settings that change no weight: the attention window and the inference precision, tried on a
checkpoint and fixed in a SavedModel, and Griffin-Lim under XLA (the rest of synthesis: test_synthesize.py,
whose tiny run it shares)."""
import keras
import numpy as np
import pytest
import soundfile

from export import export_saved_model
from tacotron import synthesis
from tacotron.checkpoints import make_checkpoint
from tacotron.inference import ModelLoadError
from tacotron.model import create_model
from tacotron.run_dir import write_run
from test_synthesize import PHONES
from test_synthesize import SETTINGS
from test_synthesize import run_cli
from test_synthesize import run_dir  # noqa: F401  (a fixture)
from test_synthesize import synthesizer  # noqa: F401  (a fixture)
from test_synthesize import utterances


def test_parse_window_flag():
    from tacotron.inference import parse_window
    assert parse_window("1,3") == [1, 3] and parse_window("0,0") == [0, 0] and parse_window("off") == []
    for bad in ("1", "1,2,3", "-1,3", "a,b", ""):
        with pytest.raises(ValueError, match="--attention_window"):
            parse_window(bad)


def test_attention_window_from_a_checkpoint_and_fixed_in_a_saved_model(tiny_hparams, tmp_path, run_dir):
    hp = tiny_hparams(SETTINGS + ",attention_type=bahdanau")
    keras.utils.set_random_seed(0)
    content_run = str(tmp_path / "bahdanau_run")
    write_run(content_run, hp, make_checkpoint(create_model(hp)))
    windowed = synthesis.load_synthesizer(checkpoint_dir=content_run, with_wav=False, attention_window=[0, 1])
    results = list(windowed.synthesize(utterances("longer", "long"), 2))
    for result in results:
        peak = 0
        for row in result.alignment:
            attended = np.flatnonzero(row)
            assert attended.min() >= peak and attended.max() <= peak + 1, (result.utt_id, attended, peak)
            peak = int(np.argmax(row))
    exported = str(tmp_path / "exported")
    export_saved_model(content_run, exported, attention_window=[0, 1])
    served = synthesis.load_synthesizer(saved_model=exported, with_wav=False)
    assert served.hp.attention_window == [0, 1]
    for single, batched in zip(results, served.synthesize(utterances("longer", "long"), 2)):
        np.testing.assert_allclose(batched.alignment, single.alignment, atol=1e-4)
    with pytest.raises(ModelLoadError, match="fixed when it is exported"):
        synthesis.load_synthesizer(saved_model=exported, attention_window=[1, 3])
    with pytest.raises(ModelLoadError, match="attention_window"):  # the shared run_dir uses GMM attention
        synthesis.load_synthesizer(checkpoint_dir=run_dir, attention_window=[1, 3])


def test_bfloat16_precision_from_a_checkpoint_and_fixed_in_a_saved_model(run_dir, synthesizer, tmp_path):
    names = ("longer", "long")
    reference = list(synthesizer.synthesize(utterances(*names), 2))
    reduced = synthesis.load_synthesizer(checkpoint_dir=run_dir, with_wav=False, precision="bfloat16")
    assert reduced.hp.inference_precision == "bfloat16"
    results = list(reduced.synthesize(utterances(*names), 2))
    for fast, exact in zip(results, reference):
        assert fast.mel.shape == exact.mel.shape  # the tiny model decodes to its step limit either way
        error = np.abs(fast.mel - exact.mel).mean()
        assert 0 < error < 0.05 * np.abs(exact.mel).mean(), error
    exported = str(tmp_path / "exported_bf16")
    export_saved_model(run_dir, exported, precision="bfloat16")
    served = synthesis.load_synthesizer(saved_model=exported, with_wav=False)
    assert served.hp.inference_precision == "bfloat16"
    for single, batched in zip(results, served.synthesize(utterances(*names), 2)):
        np.testing.assert_allclose(batched.mel, single.mel, atol=1e-4)
    with pytest.raises(ModelLoadError, match="fixed when it is exported"):
        synthesis.load_synthesizer(saved_model=exported, precision="float32")
    process = run_cli(f"--checkpoint_dir={run_dir}", "--phones=sil n i3 sil", "--precision=int4",
                      f"--output_dir={tmp_path / 'out'}")
    assert process.returncode != 0 and "precision" in process.stderr


def test_griffin_lim_xla_gives_the_same_audio(run_dir, synthesizer, tmp_path):
    compiled = synthesis.load_synthesizer(checkpoint_dir=run_dir, griffin_lim_xla=True)
    names = ("longer", "short")
    for exact, fast in zip(synthesizer.synthesize(utterances(*names), 1), compiled.synthesize(utterances(*names), 1)):
        np.testing.assert_array_equal(fast.mel, exact.mel)
        np.testing.assert_allclose(fast.wav, exact.wav, atol=1e-5 * np.abs(exact.wav).max())
    process = run_cli(f"--checkpoint_dir={run_dir}", f"--phones={PHONES['longer']}", "--utt_id=longer",
                      "--griffin_lim_xla", f"--output_dir={tmp_path}")
    assert process.returncode == 0, process.stderr
    samples, _ = soundfile.read(tmp_path / "longer.wav", dtype="int16")
    exact = synthesizer.synthesize_batch(utterances("longer"))[0].wav
    expected = exact.astype(np.float64) * 32767.0 / max(0.01, float(np.abs(exact).max()))
    assert samples.shape == expected.shape
    np.testing.assert_allclose(samples, expected, atol=2.0)  # 16-bit rounding of a float32 round-off
