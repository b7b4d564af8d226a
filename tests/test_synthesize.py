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
from text.frontend import Frontend
from text.labels import LabelError
from text.labels import Utterance
from text.phones_mix import phones_to_ids
from export import export_saved_model
from tacotron import synthesis
from tacotron.checkpoints import make_checkpoint
from tacotron.run_dir import write_run
from tacotron.inference import ModelLoadError
from tacotron.inference import utterance_seed
from tacotron.model import create_model

# The tiny model of conftest.py with these settings.
SETTINGS = "max_frames_per_phone=3,griffin_lim_iters=2,random_seed=7,stop_threshold=0.999999"
PHONES = {
    "short": "sil d a 4 sil",
    "medium": "sil n i 3 #0 h ao 3 sil",
    "long": "sil x ie 4 #0 x ie 4 #3 n i 3 #1 zh ong 1 sil",
    "longer": "sil zh ong 1 #1 g uo 2 #0 r en 2 #3 n i 3 #0 h ao 3 sil",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_hparams):
    """A tiny trained-looking training directory (random weights), built once."""
    hp = tiny_hparams(SETTINGS)
    keras.utils.set_random_seed(0)
    directory = str(tmp_path_factory.mktemp("run"))
    write_run(directory, hp, make_checkpoint(create_model(hp)))
    return directory


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

    samples, sample_rate = soundfile.read(tmp_path / "medium.wav", dtype="int16")
    assert sample_rate == 16000 and soundfile.info(tmp_path / "medium.wav").subtype == "PCM_16"
    assert samples.shape == (frames * 200,)
    # Peak-normalised to 16 bits as the course's save_wav(norm=True): wav * 32767 / max(0.01, peak).
    peak = max(0.01, float(np.abs(result.wav).max()))
    expected = (result.wav.astype(np.float64) * 32767.0 / peak).astype(np.int16)
    np.testing.assert_array_equal(samples, expected)
    assert np.abs(samples).max() == 32767 or peak == 0.01
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


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_frozen_kernels_give_the_same_outputs_from_the_weights_of_their_making(tiny_hparams, precision):
    hp = tiny_hparams(SETTINGS + f",inference_precision={precision}")
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    ids = phones_to_ids(PHONES["long"].split())
    args = (tf.constant([ids]), tf.constant([len(ids)]), tf.constant([3]))
    weights = len(model.weights)
    live = synthesis.infer_function(model)
    frozen = synthesis.infer_function(model, frozen=True)
    assert len(model.weights) == weights  # the frozen kernels are not the model's (nor its checkpoints')
    before = live(*args)["mel"].numpy()
    np.testing.assert_array_equal(frozen(*args)["mel"].numpy(), before)
    for cell in model.decoder.cell.rnn.cells:
        cell.cell.recurrent_kernel.assign(cell.cell.recurrent_kernel * 0.5)
    assert not np.allclose(live(*args)["mel"].numpy(), before, atol=1e-3)  # follows the weights
    np.testing.assert_array_equal(frozen(*args)["mel"].numpy(), before)  # keeps those it was made from


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


def test_synthesize_wave_hparam_decides_unless_told(tmp_path, tiny_hparams):
    hp = tiny_hparams(SETTINGS + ",synthesize_wave=false")
    keras.utils.set_random_seed(0)
    directory = str(tmp_path / "run")
    write_run(directory, hp, make_checkpoint(create_model(hp)))
    assert synthesis.load_synthesizer(checkpoint_dir=directory).vocode is None
    assert synthesis.load_synthesizer(checkpoint_dir=directory, with_wav=True).vocode is not None


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
    names = ["short", "long", "medium", "longer", "short", "medium"]
    ids = [f"a{index}" for index in range(1, len(names) + 1)]
    label_dir = write_labels(tmp_path / "labels", {
        "a.lab": "".join(f"{utt_id}|文|{PHONES[name]}\n" for utt_id, name in zip(ids, names)),
        "bad.lab": "x|文|sil zz sil\n", "empty.lab": ""})
    (tmp_path / "labels" / "gbk.lab").write_bytes(f"g1|你好|{PHONES['short']}\n".encode("gbk"))
    (tmp_path / "labels" / "dir.lab").mkdir()
    out = tmp_path / "out"
    process = run_cli(f"--checkpoint_dir={run_dir}", f"--label_dir={label_dir}", f"--output_dir={out}",
                      "--batch_size=2")
    assert process.returncode == 0, process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {label_dir}/bad.lab: unknown phone symbol 'zz' in utterance x (skipped)",
                      f"error: {label_dir}/dir.lab: cannot read (Is a directory) (skipped)",
                      f"error: {label_dir}/empty.lab: empty label (skipped)",
                      f"error: {label_dir}/gbk.lab: not UTF-8 text (skipped)"]
    # stderr is not a terminal: no bar, a plain progress line at most every 30 s and one at the end.
    progress = [line for line in process.stderr.splitlines() if line.startswith("synthesize ")]
    assert 1 <= len(progress) <= 3 and "\r" not in process.stderr
    assert progress[-1].startswith("synthesize 6/6 utterances (100%)")
    lines = process.stdout.strip().splitlines()
    assert sorted(line.split()[0] for line in lines[:-1]) == ids and len(lines) == 7
    assert lines[-1].startswith("total  6 utterances") and "4 skipped" in lines[-1]
    for utt_id in ids:
        frames = np.load(out / f"{utt_id}.npy").shape[0]
        assert soundfile.info(out / f"{utt_id}.wav").frames == frames * 200
        assert f"{utt_id}  {frames} frames" in process.stdout
    assert sorted(os.listdir(out)) == sorted(f"{u}{s}" for u in ids
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


# --- Text input (the Mandarin front-end) ----------------------------------------------------------------

TEXT = "今天是2024年3月5日，天气很好。"


@pytest.fixture(scope="module")
def frontend():
    return Frontend()


def test_text_is_read_by_the_front_end(frontend, tmp_path):
    found, problems = synthesis.collect_utterances(text=TEXT, frontend=frontend)
    assert problems == []
    assert found == [Utterance("000001", TEXT, frontend.pronounce(TEXT).phones)]
    assert " ".join(found[0].phones).startswith("sil j in 1 #0 t ian 1 #2 sh iii 4 #0 er 4 #0 l ing 2 #0 er 4 ")
    found, _ = synthesis.collect_utterances(text="你好", utt_id="hello", frontend=frontend)
    assert found[0].utt_id == "hello"
    found, problems = synthesis.collect_utterances(text="你好😀世界", frontend=frontend)
    assert problems == ["000001: unsupported character '😀' (U+1F600)"]
    assert " ".join(found[0].phones) == "sil n i 2 #0 h ao 3 #1 sh iii 4 #0 j ie 4 sil"
    found, problems = synthesis.collect_utterances(text="😀", frontend=frontend)
    assert found == [] and problems == ["000001: unsupported character '😀' (U+1F600)"]
    found, problems = synthesis.collect_utterances(text="你好", utt_id="a/b", frontend=frontend)
    assert found == [] and "cannot be used as a file name" in problems[0]

    sentences = tmp_path / "sentences.txt"
    sentences.write_text(f"{TEXT}\n\n你好。\n", encoding="utf-8")
    found, problems = synthesis.collect_utterances(text_file=str(sentences), utt_id="ignored", frontend=frontend)
    assert problems == [] and [u.utt_id for u in found] == ["000001", "000002"]
    with pytest.raises(LabelError, match="missing.txt: cannot read"):
        synthesis.collect_utterances(text_file=str(tmp_path / "missing.txt"), frontend=frontend)
    with pytest.raises(ValueError, match="exactly one input"):
        synthesis.collect_utterances(text="你好", phones="sil a 1 sil")


def test_text_synthesises_like_its_phones(synthesizer, frontend):
    (utterance,), _ = synthesis.collect_utterances(text=TEXT, frontend=frontend)
    from_text = synthesizer.synthesize_batch([utterance])[0]
    from_phones = synthesizer.synthesize_batch([Utterance("000001", "", utterance.phones)])[0]
    assert from_text.frames == from_phones.frames > 0
    np.testing.assert_array_equal(from_text.mel, from_phones.mel)
    assert from_text.alignment.shape[1] == len(utterance.phones) + 1  # phones and the end-of-sequence id


@pytest.mark.slow
def test_cli_synthesizes_text_from_a_checkpoint_and_a_saved_model(run_dir, tmp_path):
    exported = str(tmp_path / "exported")
    export_saved_model(run_dir, exported)
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("你好😀。\n世界。\n", encoding="utf-8")
    runs = [(f"--checkpoint_dir={run_dir}", f"--text={TEXT}", ["000001"]),
            (f"--saved_model={exported}", f"--text={TEXT}", ["000001"]),
            (f"--saved_model={exported}", f"--text_file={sentences}", ["000001", "000002"])]
    for source, text_input, ids in runs:
        out = tmp_path / f"out{len(os.listdir(tmp_path))}"
        process = run_cli(source, text_input, f"--output_dir={out}")
        assert process.returncode == 0, process.stderr
        errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
        if "text_file" in text_input:
            assert errors == ["error: 000001: unsupported character '😀' (U+1F600) (skipped)"]
        else:
            assert errors == []
        assert sorted(os.listdir(out)) == sorted(f"{u}{s}" for u in ids
                                                 for s in (".npy", ".wav", "_alignment.npy", "_alignment.png"))
        for utt_id in ids:
            frames = np.load(out / f"{utt_id}.npy").shape[0]
            assert soundfile.info(out / f"{utt_id}.wav").frames == frames * 200
        assert process.stdout.strip().splitlines()[-1].startswith(f"total  {len(ids)} utterances")
