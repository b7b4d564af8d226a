"""Synthesis: per-utterance outputs, batching, bad inputs, model sources, and the synthesize.py CLI."""
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf

import hparams as hparams_lib
from conftest import ROOT
from datasets.labels import LabelError
from datasets.labels import Utterance
from datasets.symbols import phones_to_ids
from export import export_saved_model
from tacotron import synthesis
from tacotron.checkpoints import make_checkpoint
from tacotron.inference import ModelLoadError
from tacotron.inference import utterance_seed
from tacotron.model import create_model

TINY = ("phone_embedding_dim=16,encoder_prenet_units=[16,16],cbhg_bank_size=2,cbhg_bank_filters=8,"
        "cbhg_projection_filters=[16,16],cbhg_highway_units=16,cbhg_highway_layers=1,cbhg_gru_units=8,"
        "decoder_prenet_units=[16,16],decoder_rnn_units=[32,32],attention_dim=16,gmm_hidden_units=16,"
        "postnet_layers=2,postnet_filters=16,outputs_per_step=2,max_frames_per_phone=3,"
        "griffin_lim_iters=2,random_seed=7,stop_threshold=0.999999")
PHONES = {
    "short": "sil d a 4 sil",
    "medium": "sil n i 3 #0 h ao 3 sil",
    "long": "sil x ie 4 #0 x ie 4 #3 n i 3 #1 zh ong 1 sil",
    "longer": "sil zh ong 1 #1 g uo 2 #0 r en 2 #3 n i 3 #0 h ao 3 sil",
}


def save_checkpoint_dir(directory, hp, model):
    os.makedirs(directory, exist_ok=True)
    hp.save(os.path.join(directory, "hparams.yaml"))
    tf.train.CheckpointManager(make_checkpoint(model), os.path.join(directory, "checkpoints"), 3).save()
    return str(directory)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny trained-looking training directory (random weights), built once."""
    hp = hparams_lib.load_hparams(overrides=TINY, preset="small")
    keras.utils.set_random_seed(0)
    return save_checkpoint_dir(tmp_path_factory.mktemp("run"), hp, create_model(hp))


@pytest.fixture(scope="module")
def synthesizer(run_dir):
    return synthesis.load_synthesizer(checkpoint_dir=run_dir)


def write_labels(directory, files):
    """files: {name: text}. Returns the directory."""
    os.makedirs(directory, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    return str(directory)


def utterances(*names):
    return [Utterance(name, "", PHONES[name].split()) for name in names]


def test_outputs_are_cut_to_the_true_lengths(synthesizer, tmp_path):
    hp = synthesizer.hp
    result = synthesizer.synthesize_batch(utterances("medium"))[0]
    paths = synthesis.write_result(str(tmp_path), result, hp.sample_rate)
    assert sorted(os.path.basename(path) for path in paths) == [
        "medium.npy", "medium.wav", "medium_alignment.npy", "medium_alignment.png"]
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(path) for path in paths)  # no temp files

    # Independent reference: the model's own inference for the same phones and per-utterance seed.
    ids = [int(i) for i in phones_to_ids(PHONES["medium"].split())]
    outputs = synthesizer.infer(tf.constant([ids]), tf.constant([len(ids)]),
                                tf.constant([utterance_seed(hp.random_seed, "medium")]))
    frames = int(outputs["mel_lengths"][0])
    mel = np.load(tmp_path / "medium.npy")
    assert mel.dtype == np.float32 and mel.shape == (frames, 80) == (result.frames, 80)
    np.testing.assert_array_equal(mel, outputs["mel"][0, :frames].numpy())
    alignment = np.load(tmp_path / "medium_alignment.npy")
    assert alignment.dtype == np.float32 and alignment.shape == (-(-frames // 2), len(ids))
    np.testing.assert_array_equal(alignment, outputs["alignments"][0, :-(-frames // 2)].numpy())

    wav, sample_rate = soundfile.read(tmp_path / "medium.wav", dtype="float32")
    assert sample_rate == 16000 and soundfile.info(tmp_path / "medium.wav").subtype == "PCM_16"
    assert wav.shape == (frames * 200,)
    np.testing.assert_allclose(wav, np.clip(result.wav, -1, 1), atol=1.0 / 32767 + 1e-6)
    assert result.audio_seconds == pytest.approx(frames * 200 / 16000)
    assert result.hit_max_steps == bool(outputs["hit_max_steps"][0])


def test_batched_synthesis_matches_one_by_one(synthesizer):
    names = ("longer", "short", "medium", "long")
    batched = {result.utt_id: result for result in synthesizer.synthesize(utterances(*names), batch_size=3)}
    assert sorted(batched) == sorted(names)
    lengths = {result.frames for result in batched.values()}
    assert len(lengths) > 1, "the test needs utterances of different lengths to exercise padding"
    for name in names:
        single = synthesizer.synthesize_batch(utterances(name))[0]
        result = batched[name]
        assert result.frames == single.frames and result.hit_max_steps == single.hit_max_steps
        np.testing.assert_allclose(result.mel, single.mel, atol=1e-4)
        np.testing.assert_allclose(result.alignment, single.alignment, atol=1e-4)
        np.testing.assert_allclose(result.wav, single.wav, atol=1e-3)


def test_new_lengths_do_not_retrace(synthesizer):
    synthesizer.synthesize_batch(utterances("short", "long"))
    synthesizer.synthesize_batch(utterances("medium", "longer", "short"))
    assert synthesizer.infer.experimental_get_tracing_count() == 1
    assert synthesizer.vocode.experimental_get_tracing_count() == 1


def test_the_seed_changes_the_dropout_and_defaults_to_hparams(run_dir, synthesizer):
    assert synthesizer.seed == 7 and synthesizer.hp.griffin_lim_iters == 2
    other = synthesis.load_synthesizer(checkpoint_dir=run_dir, seed=8, griffin_lim_iters=3, with_wav=False)
    assert other.seed == 8 and other.hp.griffin_lim_iters == 3 and other.vocode is None
    mine = synthesizer.synthesize_batch(utterances("longer"))[0]
    theirs = other.synthesize_batch(utterances("longer"))[0]
    assert theirs.wav is None
    assert mine.frames != theirs.frames or not np.allclose(mine.mel, theirs.mel, atol=1e-3)


def test_length_sorted_batches():
    items = utterances("longer", "short", "medium", "long") + [Utterance("short2", "", ["sil", "a", "1", "sil"])]
    batches = synthesis.length_sorted_batches(items, 2)
    assert [[u.utt_id for u in batch] for batch in batches] == [["short2", "short"], ["medium", "long"],
                                                                 ["longer"]]
    assert [u.utt_id for u in synthesis.length_sorted_batches(items, 1)[0]] == ["short2"]
    with pytest.raises(ValueError):
        synthesis.length_sorted_batches(items, 0)


def test_phones_one_off():
    found, problems = synthesis.collect_utterances(phones=PHONES["medium"])
    assert problems == [] and found == [Utterance("phones", "", PHONES["medium"].split())]
    found, _ = synthesis.collect_utterances(phones=PHONES["short"], utt_id="hello")
    assert found[0].utt_id == "hello"
    for phones, utt_id, message in [("sil n i 9 sil", "phones", "--phones: unknown phone symbol '9'"),
                                    ("  ", "phones", "has no phones"),
                                    ("sil a 1 sil", "../x", "cannot be used as a file name")]:
        found, problems = synthesis.collect_utterances(phones=phones, utt_id=utt_id)
        assert found == [] and len(problems) == 1 and message in problems[0]
    with pytest.raises(ValueError):
        synthesis.collect_utterances(phones="sil a 1 sil", label_files=["x.lab"])


def test_label_dir_reports_and_skips_bad_files(tmp_path):
    label_dir = write_labels(tmp_path / "labels", {
        "a.lab": f"a1|文|{PHONES['short']}\na2|文|{PHONES['medium']}\n",
        "b.lab": f"b1|文|{PHONES['long']}\n",
        "bad.lab": "x1|文|sil n i 3 qq sil\n",
        "empty.lab": "\n",
        "dup.lab": f"a1|文|{PHONES['short']}\n",
        "ignored.txt": "not a label\n"})
    found, problems = synthesis.collect_utterances(label_dir=label_dir)
    assert [u.utt_id for u in found] == ["a1", "a2", "b1"]
    assert len(problems) == 3
    assert f"{label_dir}/bad.lab: unknown phone symbol 'qq'" in problems[0]
    assert f"{label_dir}/dup.lab: utterance id a1 repeats one from {label_dir}/a.lab" in problems[1]
    assert problems[2] == f"{label_dir}/empty.lab: empty label"
    found, problems = synthesis.collect_utterances(label_files=[f"{label_dir}/b.lab", f"{label_dir}/no.lab"])
    assert [u.utt_id for u in found] == ["b1"] and "no.lab: cannot read" in problems[0]
    with pytest.raises(LabelError, match="does not exist"):
        synthesis.collect_utterances(label_dir=str(tmp_path / "missing"))
    with pytest.raises(LabelError, match="no \\*.lab files"):
        synthesis.collect_utterances(label_dir=str(tmp_path))


def test_bad_model_sources_give_clear_errors(run_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="nowhere/hparams.yaml: not found"):
        synthesis.load_synthesizer(checkpoint_dir=str(tmp_path / "nowhere"))
    no_hparams = shutil.copytree(run_dir, tmp_path / "no_hparams")
    os.remove(no_hparams / "hparams.yaml")
    with pytest.raises(ModelLoadError, match="no_hparams/hparams.yaml: not found"):
        synthesis.load_synthesizer(checkpoint_dir=str(no_hparams))
    no_checkpoint = tmp_path / "no_checkpoint"
    os.makedirs(no_checkpoint)
    shutil.copy(os.path.join(run_dir, "hparams.yaml"), no_checkpoint)
    with pytest.raises(ModelLoadError, match="no checkpoint found"):
        synthesis.load_synthesizer(checkpoint_dir=str(no_checkpoint))
    mismatch = shutil.copytree(run_dir, tmp_path / "mismatch")
    hp = hparams_lib.load_hparams(os.path.join(run_dir, "hparams.yaml"))
    hp.replace(decoder_rnn_units=[24, 24]).save(str(mismatch / "hparams.yaml"))
    with pytest.raises(ModelLoadError, match="does not match .*mismatch/hparams.yaml"):
        synthesis.load_synthesizer(checkpoint_dir=str(mismatch))
    with pytest.raises(ModelLoadError, match="not a SavedModel"):
        synthesis.load_synthesizer(saved_model=str(tmp_path))
    for sources in ({}, {"checkpoint_dir": run_dir, "saved_model": str(tmp_path)}):
        with pytest.raises(ValueError, match="exactly one model source"):
            synthesis.load_synthesizer(**sources)


def test_saved_model_source_gives_the_checkpoint_result(run_dir, synthesizer, tmp_path):
    exported = str(tmp_path / "exported")
    export_saved_model(run_dir, exported)
    served = synthesis.load_synthesizer(saved_model=exported)
    assert served.hp.values() == synthesizer.hp.values()
    names = ("long", "medium", "short")
    for single, batched in zip(synthesizer.synthesize(utterances(*names), 1),
                               served.synthesize(utterances(*names), 2)):
        assert single.utt_id == batched.utt_id and single.frames == batched.frames
        np.testing.assert_allclose(batched.mel, single.mel, atol=1e-4)
        np.testing.assert_allclose(batched.alignment, single.alignment, atol=1e-4)
        np.testing.assert_allclose(batched.wav, single.wav, atol=1e-3)
    os.remove(os.path.join(exported, "assets", "hparams.yaml"))
    with pytest.raises(ModelLoadError, match="assets/hparams.yaml: not found"):
        synthesis.load_synthesizer(saved_model=exported)


def test_summary_lines():
    results = [synthesis.Result("u1", None, None, None, 80, 1.0, False, 0.5),
               synthesis.Result("u2", None, None, None, 240, 3.0, True, 0.5)]
    assert synthesis.summary_line(results[0]) == "u1  80 frames  1.00 s  stop token  RTF 0.500"
    assert synthesis.summary_line(results[1]) == "u2  240 frames  3.00 s  max steps  RTF 0.167"
    assert synthesis.total_line(results, 2) == (
        "total  2 utterances  320 frames  4.00 s  1 at max steps  2 skipped  RTF 0.250")


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, os.path.join(ROOT, "synthesize.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_synthesizes_a_label_dir_and_skips_bad_files(run_dir, tmp_path):
    label_dir = write_labels(tmp_path / "labels", {
        "a.lab": f"a1|文|{PHONES['short']}\na2|文|{PHONES['long']}\n", "bad.lab": "x|文|sil zz sil\n",
        "empty.lab": ""})
    out = tmp_path / "out"
    process = run_cli(f"--checkpoint_dir={run_dir}", f"--label_dir={label_dir}", f"--output_dir={out}",
                      "--batch_size=2")
    assert process.returncode == 0, process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {label_dir}/bad.lab: unknown phone symbol 'zz' in utterance x (skipped)",
                      f"error: {label_dir}/empty.lab: empty label (skipped)"]
    lines = process.stdout.strip().splitlines()
    assert sorted(line.split()[0] for line in lines[:-1]) == ["a1", "a2"] and len(lines) == 3
    assert lines[-1].startswith("total  2 utterances") and "2 skipped" in lines[-1]
    for utt_id in ("a1", "a2"):
        frames = np.load(out / f"{utt_id}.npy").shape[0]
        assert soundfile.info(out / f"{utt_id}.wav").frames == frames * 200
        assert f"{utt_id}  {frames} frames" in process.stdout
    assert sorted(os.listdir(out)) == sorted(f"{u}{s}" for u in ("a1", "a2")
                                             for s in (".npy", ".wav", "_alignment.npy", "_alignment.png"))


@pytest.mark.slow
def test_cli_fails_when_the_model_cannot_load_or_nothing_is_usable(run_dir, tmp_path):
    nowhere = tmp_path / "nowhere"
    process = run_cli(f"--checkpoint_dir={nowhere}", "--phones=sil a 1 sil", f"--output_dir={tmp_path / 'out'}")
    assert process.returncode == 1
    assert process.stderr.strip().splitlines()[-1] == (
        f"error: {nowhere}/hparams.yaml: not found (is {nowhere} a train.py --log_dir?)")
    process = run_cli(f"--checkpoint_dir={run_dir}", "--phones=sil a 1 qq sil", "--utt_id=u1",
                      f"--output_dir={tmp_path / 'out'}")
    assert process.returncode == 1
    assert process.stderr.strip().splitlines()[-2:] == [
        "error: --phones: unknown phone symbol 'qq' in utterance u1 (skipped)", "error: nothing to synthesise"]
    assert not os.path.exists(tmp_path / "out")
