"""export.py: the SavedModel loads without this project, matches the checkpoint, carries its assets."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import export
import hparams as hparams_lib
from conftest import ROOT
from text.phones_mix import NUM_IDS
from text.phones_mix import SYMBOLS
from text.phones_mix import phones_to_ids
from tacotron.checkpoints import make_checkpoint
from tacotron.run_dir import write_run
from tacotron.inference import ModelLoadError
from tacotron.inference import load_model
from tacotron.model import create_model
from tacotron.griffin_lim import griffin_lim_from_hparams

# A tiny model with a small FFT and few Griffin-Lim iterations, so that export and synthesis take seconds.
# Its untrained stop probabilities stay near 0.51, so with stop_threshold 0.52 every row decodes to its own
# step limit (rows of 54, 36 and 60 frames): long, unequal outputs to compare.
# The tiny model of conftest.py with these settings.
SETTINGS = "max_frames_per_phone=6,n_fft=512,win_size=400,griffin_lim_iters=4,random_seed=99,stop_threshold=0.52"
EXPORT_SEED = 7
UTTERANCES = [["sil", "n", "i", "3", "h", "ao", "3", "sil"], ["sil", "m", "a", "1", "sil"],
              ["sil", "g", "uo", "2", "#1", "j", "ia", "1", "sil"]]
LOAD_SCRIPT = """
import importlib.util, sys
import numpy as np
import tensorflow as tf
assert importlib.util.find_spec("tacotron") is None and importlib.util.find_spec("hparams") is None
inputs = np.load("inputs.npz")
loaded = tf.saved_model.load(sys.argv[1])
phones, lengths = tf.constant(inputs["phones"]), tf.constant(inputs["input_lengths"])
results = {}
for key, value in loaded.signatures["serving_default"](phones=phones, input_lengths=lengths).items():
    results["default/" + key] = value.numpy()
seeded = loaded.signatures["serving_seeded"](phones=phones, input_lengths=lengths,
                                             seeds=tf.constant(inputs["seeds"]))
for key, value in seeded.items():
    results["seeded/" + key] = value.numpy()
for key, value in loaded.signatures["synthesize_wav"](phones=phones, input_lengths=lengths).items():
    results["wav/" + key] = value.numpy()
results["num_variables"] = np.array(len(loaded.model_variables) + len(loaded.decoder_kernels))
# The session-based loader of TensorFlow Serving and saved_model_cli: restores through the saver, not objects.
with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], sys.argv[1])
    for name in ("serving_default", "synthesize_wav"):
        signature = meta_graph.signature_def[name]
        feed = {signature.inputs["phones"].name: inputs["phones"],
                signature.inputs["input_lengths"].name: inputs["input_lengths"]}
        fetches = {key: value.name for key, value in signature.outputs.items()}
        for key, value in session.run(fetches, feed).items():
            results["session/" + name + "/" + key] = value
np.savez("outputs.npz", **results)
"""


def clean_env():
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return env


def run_export_cli(cwd, *flag_args):
    command = [sys.executable, os.path.join(ROOT, "export.py"), *flag_args]
    return subprocess.run(command, cwd=str(cwd), capture_output=True, text=True, env=clean_env(), timeout=180)


def padded_batch():
    ids = [phones_to_ids(phones) for phones in UTTERANCES]
    lengths = np.array([len(row) for row in ids], np.int32)
    phones = np.zeros((len(ids), lengths.max()), np.int32)
    for b, row in enumerate(ids):
        phones[b, :len(row)] = row
    return phones, lengths


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_hparams):
    """A tiny checkpoint dir, and its SavedModel written by the export.py CLI with --seed."""
    root = tmp_path_factory.mktemp("export")
    hp = tiny_hparams(SETTINGS)
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    run_dir = root / "run"
    write_run(str(run_dir), hp, make_checkpoint(model))
    output_dir = root / "models" / "tacotron" / "1"
    result = run_export_cli(root, f"--checkpoint_dir={run_dir}", f"--output_dir={output_dir}",
                            f"--seed={EXPORT_SEED}")
    assert result.returncode == 0, result.stderr
    assert str(output_dir) in result.stdout
    return {"run_dir": str(run_dir), "output_dir": str(output_dir), "hp": hp}


def test_assets_phone_inventory_and_hparams(exported):
    assets = os.path.join(exported["output_dir"], "assets")
    with open(os.path.join(assets, "phones.txt"), encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    assert lines[-1] == "", "the file ends with a newline"
    lines = lines[:-1]
    assert len(lines) == NUM_IDS == 115
    assert lines[0] == "<pad>" and lines[1] == "n" and lines[113] == "~" and lines[114] == "u3"
    for phones in UTTERANCES:
        assert [lines[i] for i in phones_to_ids(phones)] == phones + ["~"]
    assert sorted(lines[1:]) == sorted(SYMBOLS)
    saved = hparams_lib.load_hparams(os.path.join(assets, "hparams.yaml"))
    assert saved.values() == exported["hp"].values()
    siblings = os.listdir(os.path.dirname(exported["output_dir"]))
    assert siblings == ["1"], f"no temporary directories are left behind: {siblings}"


@pytest.mark.slow
def test_fresh_process_and_session_loader_match_the_checkpoint(exported, tmp_path):
    phones, lengths = padded_batch()
    seeds = np.array([3, 1234, 99999], np.int32)
    np.savez(tmp_path / "inputs.npz", phones=phones, input_lengths=lengths, seeds=seeds)
    result = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, exported["output_dir"]], cwd=str(tmp_path),
                            capture_output=True, text=True, env=clean_env(), timeout=180)
    assert result.returncode == 0, result.stderr
    outputs = dict(np.load(tmp_path / "outputs.npz"))

    model, hp, _ = load_model(exported["run_dir"])
    # Every weight but the decoder LSTMs' kernel and recurrent kernel, which are saved fused, one per layer.
    num_layers = len(model.inference_kernels())
    assert int(outputs["num_variables"]) == len(model.weights) - num_layers
    expected = {"default/": model.infer(tf.constant(phones), tf.constant(lengths),
                                        seeds=tf.fill([len(lengths)], EXPORT_SEED)),
                "seeded/": model.infer(tf.constant(phones), tf.constant(lengths), seeds=tf.constant(seeds))}
    for prefix, reference in expected.items():
        np.testing.assert_array_equal(outputs[prefix + "mel_lengths"], reference["mel_lengths"].numpy())
        for key in ("mel", "alignments", "stop_probabilities"):
            assert outputs[prefix + key].dtype == np.float32
            np.testing.assert_allclose(outputs[prefix + key], reference[key].numpy(), atol=1e-4, err_msg=key)
    assert sorted(k for k in outputs if k.startswith("default/")) == [
        "default/alignments", "default/mel", "default/mel_lengths", "default/stop_probabilities"]
    np.testing.assert_array_equal(outputs["seeded/hit_max_steps"], expected["seeded/"]["hit_max_steps"].numpy())
    seed_effect = np.abs(outputs["seeded/mel"] - outputs["default/mel"]).max(axis=(1, 2))
    assert np.all(seed_effect > 1e-3), f"per-row seeds must change the output: {seed_effect}"

    for key in ("mel", "mel_lengths", "alignments", "stop_probabilities"):
        np.testing.assert_allclose(outputs["session/serving_default/" + key], outputs["default/" + key],
                                   atol=1e-5, err_msg=key)
    for key in ("wav", "wav_lengths"):
        np.testing.assert_allclose(outputs["session/synthesize_wav/" + key], outputs["wav/" + key], atol=1e-5)

    mel, mel_lengths = outputs["default/mel"], outputs["default/mel_lengths"]
    wav, wav_lengths = outputs["wav/wav"], outputs["wav/wav_lengths"]
    assert wav.dtype == np.float32 and wav_lengths.dtype == np.int32
    np.testing.assert_array_equal(wav_lengths, mel_lengths * hp.hop_size)
    assert wav.shape == (len(lengths), mel.shape[1] * hp.hop_size)
    for b, length in enumerate(wav_lengths):
        assert np.all(wav[b, length:] == 0.0) and np.any(wav[b, :length] != 0.0)
    reference_wav, _ = griffin_lim_from_hparams(hp)(mel, mel_lengths)
    np.testing.assert_allclose(wav, reference_wav.numpy(), atol=1e-3)


def test_griffin_lim_xla_export(exported, tmp_path):
    output_dir = tmp_path / "xla"
    export.export_saved_model(exported["run_dir"], str(output_dir), griffin_lim_xla=True)
    with open(output_dir / "saved_model.pb", "rb") as handle:
        assert b"_XlaMustCompile" in handle.read()
    loaded = tf.saved_model.load(str(output_dir))
    inputs = dict(zip(("phones", "input_lengths"), map(tf.constant, padded_batch())))
    served = loaded.signatures["serving_default"](**inputs)
    wav = loaded.signatures["synthesize_wav"](**inputs)["wav"].numpy()
    reference = griffin_lim_from_hparams(exported["hp"])(served["mel"], served["mel_lengths"])[0].numpy()
    assert wav.shape == reference.shape
    np.testing.assert_allclose(wav, reference, atol=1e-5 * np.abs(reference).max())


def test_serving_default_is_deterministic_and_batch_independent(exported):
    loaded = tf.saved_model.load(exported["output_dir"])
    serving = loaded.signatures["serving_default"]
    phones, lengths = padded_batch()
    first = serving(phones=tf.constant(phones), input_lengths=tf.constant(lengths))
    again = serving(phones=tf.constant(phones), input_lengths=tf.constant(lengths))
    for key in first:
        np.testing.assert_array_equal(first[key].numpy(), again[key].numpy())
    for b, length in enumerate(lengths):
        single = serving(phones=tf.constant(phones[b:b + 1, :length]), input_lengths=tf.constant(lengths[b:b + 1]))
        frames = int(single["mel_lengths"][0])
        assert int(first["mel_lengths"][b]) == frames
        np.testing.assert_allclose(first["mel"][b, :frames].numpy(), single["mel"][0, :frames].numpy(), atol=1e-4)


def test_interrupted_export_leaves_no_model(exported, tmp_path, monkeypatch):
    def interrupted_save(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        export.export_saved_model(exported["run_dir"], str(tmp_path / "out" / "model"))
    assert os.listdir(tmp_path / "out") == []


def test_a_full_disk_during_the_save_leaves_the_previous_model(exported, tmp_path, monkeypatch):
    target = tmp_path / "models" / "1"
    shutil.copytree(exported["output_dir"], target)
    before = {path: (target / path).read_bytes() for path in ("saved_model.pb", "assets/hparams.yaml")}

    def save_until_the_disk_is_full(module, export_dir, signatures=None):
        (Path(export_dir) / "saved_model.pb").write_bytes(b"half")
        raise tf.errors.ResourceExhaustedError(None, None, f"{export_dir}/variables: No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", save_until_the_disk_is_full)
    with pytest.raises(export.ExportError) as raised:
        export.export_saved_model(exported["run_dir"], str(target), seed=5)
    message = str(raised.value)
    assert message.startswith(f"{target}: cannot write the SavedModel (") and "No space left on device" in message
    assert message.endswith("the previous model, if any, is unchanged") and "\n" not in message
    assert {path: (target / path).read_bytes() for path in before} == before
    assert os.listdir(tmp_path / "models") == ["1"]


def test_existing_saved_model_is_replaced_and_other_directories_are_refused(tmp_path):
    staging, target = tmp_path / "staging", tmp_path / "model"
    staging.mkdir()
    (staging / "saved_model.pb").write_text("new")
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    (target / "stale.txt").write_text("old")
    export.move_into_place(str(staging), str(target))
    assert sorted(os.listdir(target)) == ["saved_model.pb"]
    assert (target / "saved_model.pb").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["model"]

    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(export.ExportError, match="refusing to overwrite"):
        export.export_saved_model(str(tmp_path / "missing_run"), str(other))
    assert os.listdir(other) == ["keep.txt"]


def test_bad_checkpoint_dirs_and_seed_are_clear_errors(exported, tmp_path):
    with pytest.raises(ModelLoadError, match="hparams.yaml: not found"):
        export.export_saved_model(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    empty_run = tmp_path / "empty_run"
    exported["hp"].save(str(empty_run / "hparams.yaml"))
    with pytest.raises(ModelLoadError, match="no checkpoint found"):
        export.export_saved_model(str(empty_run), str(tmp_path / "out"))
    with pytest.raises(export.ExportError, match="--seed=-1"):
        export.export_saved_model(exported["run_dir"], str(tmp_path / "out"), seed=-1)
    assert not os.path.exists(tmp_path / "out")


def test_cli_reports_missing_hparams_in_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    result = run_export_cli(tmp_path, f"--checkpoint_dir={tmp_path}/run", f"--output_dir={tmp_path}/out")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {tmp_path}/run/hparams.yaml: not found (is {tmp_path}/run a train.py --log_dir?)"]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "out")
