"""Faults while synthesising: a full disk (the run stops, no utterance left half-written), a SavedModel that
another program wrote."""
import errno
import os
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

import hparams as hparams_lib
from conftest import ROOT
from datasets import fileio
from tacotron import synthesis
from tacotron.checkpoints import make_checkpoint
from tacotron.run_dir import write_run
from tacotron.inference import ModelLoadError
from tacotron.model import create_model

# The tiny model of conftest.py with these settings.
SETTINGS = "max_frames_per_phone=3,griffin_lim_iters=2,random_seed=7,stop_threshold=0.999999"
ENDINGS = [".npy", "_alignment.npy", "_alignment.png", ".wav"]


def result(utt_id, frames=12):
    rng = np.random.default_rng(0)
    return synthesis.Result(utt_id=utt_id, mel=rng.uniform(-4, 4, (frames, 80)).astype(np.float32),
                            alignment=rng.uniform(0, 1, (frames // 2, 7)).astype(np.float32),
                            wav=rng.uniform(-0.5, 0.5, frames * 200).astype(np.float32), frames=frames,
                            audio_seconds=frames * 200 / 16000, hit_max_steps=False, wall_seconds=0.1)


def fill_disk_at(monkeypatch, final_name):
    """Opening the temporary file of `final_name` for writing fails: the disk is full."""
    real_open = open

    def disk_open(path, mode="r", *args, **kwargs):
        if "w" in mode and os.path.basename(path).startswith(f".{final_name}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(fileio, "open", disk_open, raising=False)


@pytest.mark.parametrize("failing", ["u2.npy", "u2.wav"])
def test_a_full_disk_leaves_no_part_of_the_utterance(tmp_path, monkeypatch, failing):
    synthesis.write_result(str(tmp_path), result("u1"), 16000)
    fill_disk_at(monkeypatch, failing)
    with pytest.raises(OSError) as raised:
        synthesis.write_result(str(tmp_path), result("u2"), 16000)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / failing)
    assert sorted(os.listdir(tmp_path)) == sorted(f"u1{ending}" for ending in ENDINGS)  # no temp file either
    stopped = synthesis.SynthesisStopped(raised.value, 1, 3)
    assert str(stopped) == (f"{tmp_path / failing}: cannot write (No space left on device); stopped after 1 of 3 "
                            "utterances (those are complete, this one left no file)")


class OtherProgram(tf.Module):
    """A SavedModel that export.py did not write."""

    def __init__(self):
        super().__init__()
        self.scale = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def double(self, x):
        return x * self.scale


def test_a_saved_model_of_another_program_is_named(tmp_path):
    other = str(tmp_path / "other")
    module = OtherProgram()
    tf.saved_model.save(module, other, signatures={"serving_default": module.double})
    with pytest.raises(ModelLoadError) as raised:
        synthesis.load_synthesizer(saved_model=other)
    assert str(raised.value) == f"{other}/assets/hparams.yaml: not found (was {other} written by export.py?)"

    os.makedirs(os.path.join(other, "assets"), exist_ok=True)  # even with a hparams.yaml in its assets
    hparams_lib.load_hparams(preset="small").save(os.path.join(other, "assets", "hparams.yaml"))
    with pytest.raises(ModelLoadError) as raised:
        synthesis.load_synthesizer(saved_model=other)
    assert str(raised.value) == f"{other}: has no signature 'serving_seeded' (found: serving_default)"

    with open(os.path.join(other, "saved_model.pb"), "wb") as handle:
        handle.write(b"not a protocol buffer")
    with pytest.raises(ModelLoadError, match=f"^{other}: cannot load \\(") as raised:
        synthesis.load_synthesizer(saved_model=other)
    assert "\n" not in str(raised.value)




@pytest.mark.slow  # about 10 s: one synthesize.py run
def test_cli_stops_in_one_line_when_the_disk_is_full(tmp_path, tiny_hparams, full_disk_command):
    hp = tiny_hparams(SETTINGS)
    keras.utils.set_random_seed(0)
    run_dir = tmp_path / "run"
    write_run(str(run_dir), hp, make_checkpoint(create_model(hp)))
    labels = tmp_path / "a.lab"
    labels.write_text("a1|文|sil d a 4 sil\na2|文|sil n i 3 #0 h ao 3 sil\na3|文|sil m a 1 #1 m a 1 sil\n",
                      encoding="utf-8")
    out = tmp_path / "out"
    process = subprocess.run(
        full_disk_command("synthesize.py", ".a2.wav.", f"--checkpoint_dir={run_dir}", f"--labels={labels}",
                          f"--output_dir={out}"), cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES=""))
    assert process.returncode == 1, process.stderr
    assert [line for line in process.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {out}/a2.wav: cannot write (No space left on device); stopped after 1 of 3 utterances (those "
        "are complete, this one left no file)"]
    assert "Traceback" not in process.stderr
    assert sorted(os.listdir(out)) == sorted(f"a1{ending}" for ending in ENDINGS)
    assert [line.split()[0] for line in process.stdout.splitlines()] == ["a1"]
