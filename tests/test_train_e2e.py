"""train.py end to end on a tiny demo corpus: resume, NaN/explosion stop, Ctrl-C, summaries."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import train
from conftest import ROOT
from tacotron import run_dir

pytestmark = pytest.mark.slow


# Tiny model, batches of 4, summaries and checkpoints every 2 steps, a schedule that decays from step 1.
TRAIN_SETTINGS = "batch_size=4,save_summary_steps=2,save_checkpoints_steps=2,start_decay=1,decay_steps=1"


@pytest.fixture
def tiny(tiny_hparams):
    """tiny("a=1") -> the tiny model with TRAIN_SETTINGS and `extra`."""
    return lambda extra="": tiny_hparams(TRAIN_SETTINGS + ("," + extra if extra else ""))


def test_resume_continues_step_and_schedule(demo_features, tmp_path, tiny, checkpoint_state):
    log_dir = str(tmp_path / "run")
    assert train.train(tiny(), demo_features, log_dir, max_steps=2, valid_batches=1) == 2
    assert checkpoint_state(log_dir) == (2, 2)
    assert os.path.isfile(os.path.join(log_dir, "hparams.yaml"))
    assert os.path.isfile(os.path.join(log_dir, "plots", "alignment_latest.png"))
    assert os.path.isfile(os.path.join(log_dir, "plots", "free_running_latest.png"))
    assert train.train(tiny(), demo_features, log_dir, max_steps=5, valid_batches=0) == 5
    assert checkpoint_state(log_dir) == (5, 5)
    events = [name for name in os.listdir(log_dir) if name.startswith("events.out.tfevents")]
    assert events, "TensorBoard events are written"


def test_exploding_loss_stops_with_step_and_keeps_last_good_checkpoint(demo_features, tmp_path, tiny,
                                                                      checkpoint_state):
    log_dir = str(tmp_path / "run")
    train.train(tiny(), demo_features, log_dir, max_steps=2, valid_batches=0)
    before = run_dir.latest_checkpoint(log_dir)
    with pytest.raises(train.TrainingError, match=r"step 3: loss is .*last good checkpoint: .*ckpt-2"):
        train.train(tiny(), demo_features, log_dir, max_steps=6, valid_batches=0, explode_loss=1e-6)
    assert run_dir.latest_checkpoint(log_dir) == before
    assert checkpoint_state(log_dir) == (2, 2)


def test_checkpoint_of_other_hparams_is_a_clear_error(demo_features, tmp_path, tiny):
    log_dir = str(tmp_path / "run")
    train.train(tiny(), demo_features, log_dir, max_steps=1, valid_batches=0)
    saved = (tmp_path / "run" / "hparams.yaml").read_bytes()
    with pytest.raises(train.TrainingError, match="shape.*differ from .*hparams.yaml: decoder_rnn_units$"):
        train.train(tiny("decoder_rnn_units=[24,24]"), demo_features, log_dir, max_steps=2, valid_batches=0)
    # The run directory is untouched: its hparams.yaml still describes its checkpoints.
    assert (tmp_path / "run" / "hparams.yaml").read_bytes() == saved


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits_cleanly(stop_signal, demo_features, tmp_path,
                                                                    checkpoint_state, tiny_overrides):
    log_dir = str(tmp_path / "run")
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={demo_features}", f"--log_dir={log_dir}",
               "--preset=small", "--max_steps=100000", "--valid_batches=0", "--progress_seconds=0",
               "--hparams=" + tiny_overrides("batch_size=4,save_summary_steps=100000,save_checkpoints_steps=100000")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(command, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("train ") and int(line.split()[1].split("/")[0]) >= 3:
            break
    process.send_signal(stop_signal)
    output, _ = process.communicate(timeout=60)
    text = "".join(lines) + output
    assert process.returncode == 0, text
    assert f"interrupted ({stop_signal.name}) at step" in text and "Finished at step" in text
    step, _ = checkpoint_state(log_dir)
    assert step >= 3


def test_cli_reports_bad_data_dir_in_one_line(tmp_path):
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={tmp_path}/nowhere",
               f"--log_dir={tmp_path}/run", "--preset=small"]
    result = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
    assert result.returncode == 1
    assert "error: " in result.stderr and "metadata.csv: not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_retrain_decoder_only_loads_a_trained_model(demo_features, tmp_path, tiny):
    log_dir = str(tmp_path / "run")
    train.train(tiny(), demo_features, log_dir, max_steps=2, valid_batches=0)
    reader = tf.train.load_checkpoint(run_dir.latest_checkpoint(log_dir))
    embedding = [n for n in reader.get_variable_to_shape_map() if "phone_embedding" in n and n.startswith("model/")]
    value = reader.get_tensor(embedding[0])
    train.train(tiny("retrain_decoder_only=true"), demo_features, log_dir, max_steps=4, valid_batches=0)
    reader = tf.train.load_checkpoint(run_dir.latest_checkpoint(log_dir))
    np.testing.assert_array_equal(reader.get_tensor(embedding[0]), value)


def test_cli_mirrored_strategy_over_two_cpu_replicas(demo_features, tmp_path, checkpoint_state, tiny_overrides):
    log_dir = str(tmp_path / "run")
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={demo_features}", f"--log_dir={log_dir}",
               "--preset=small", "--max_steps=3", "--valid_batches=0", "--cpu_replicas=2",
               "--hparams=" + tiny_overrides("batch_size=4")]
    result = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Finished at step 3" in result.stdout
    assert checkpoint_state(log_dir) == (3, 3)
