"""train.py end to end on a tiny demo corpus: resume, NaN/explosion stop, Ctrl-C, summaries."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import hparams as hparams_lib
import train
from conftest import ROOT
from datasets.demo_corpus import make_demo_corpus
from datasets.preprocessor import preprocess_corpus
from test_model import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    make_demo_corpus(str(root / "corpus"), num_utterances=10, seed=3, min_phones=8, max_phones=14)
    hp = hparams_lib.load_hparams(preset="small")
    preprocess_corpus(str(root / "corpus" / "labels"), str(root / "corpus" / "wavs"), str(root / "features"),
                      hp, valid_size=2, n_jobs=1)
    return str(root / "features")


def tiny(extra=""):
    overrides = TINY + ",batch_size=4,save_summary_steps=2,save_checkpoints_steps=2,start_decay=1,decay_steps=1"
    return hparams_lib.load_hparams(preset="small", overrides=overrides + ("," + extra if extra else ""))


def checkpoint_values(log_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(log_dir, "checkpoints")))
    names = reader.get_variable_to_shape_map()
    step = reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")
    iteration = reader.get_tensor([n for n in names if n.startswith("optimizer/adam.Siteration")][0])
    return int(step), int(iteration)


def test_resume_continues_step_and_schedule(features, tmp_path):
    log_dir = str(tmp_path / "run")
    assert train.train(tiny(), features, log_dir, max_steps=2, valid_batches=1) == 2
    assert checkpoint_values(log_dir) == (2, 2)
    assert os.path.isfile(os.path.join(log_dir, "hparams.yaml"))
    assert os.path.isfile(os.path.join(log_dir, "plots", "alignment_latest.png"))
    assert os.path.isfile(os.path.join(log_dir, "plots", "free_running_latest.png"))
    assert train.train(tiny(), features, log_dir, max_steps=5, valid_batches=0) == 5
    assert checkpoint_values(log_dir) == (5, 5)
    events = [name for name in os.listdir(log_dir) if name.startswith("events.out.tfevents")]
    assert events, "TensorBoard events are written"


def test_exploding_loss_stops_with_step_and_keeps_last_good_checkpoint(features, tmp_path):
    log_dir = str(tmp_path / "run")
    train.train(tiny(), features, log_dir, max_steps=2, valid_batches=0)
    before = tf.train.latest_checkpoint(os.path.join(log_dir, "checkpoints"))
    with pytest.raises(train.TrainingError, match=r"step 3: loss is .*last good checkpoint: .*ckpt-2"):
        train.train(tiny(), features, log_dir, max_steps=6, valid_batches=0, explode_loss=1e-6)
    assert tf.train.latest_checkpoint(os.path.join(log_dir, "checkpoints")) == before
    assert checkpoint_values(log_dir) == (2, 2)


def test_checkpoint_of_other_hparams_is_a_clear_error(features, tmp_path):
    log_dir = str(tmp_path / "run")
    train.train(tiny(), features, log_dir, max_steps=1, valid_batches=0)
    with pytest.raises(train.TrainingError, match="shape"):
        train.train(tiny("decoder_rnn_units=[24,24]"), features, log_dir, max_steps=2, valid_batches=0)


def test_cli_ctrl_c_saves_a_checkpoint_and_exits_cleanly(features, tmp_path):
    log_dir = str(tmp_path / "run")
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={features}", f"--log_dir={log_dir}",
               "--preset=small", "--max_steps=100000", "--valid_batches=0",
               f"--hparams={TINY},batch_size=4,save_summary_steps=100000,save_checkpoints_steps=100000"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(command, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("step") and int(line.split()[1]) >= 3:
            break
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    text = "".join(lines) + output
    assert process.returncode == 0, text
    assert "Interrupted at step" in text and "Finished at step" in text
    step, _ = checkpoint_values(log_dir)
    assert step >= 3


def test_cli_reports_bad_data_dir_in_one_line(tmp_path):
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={tmp_path}/nowhere",
               f"--log_dir={tmp_path}/run", "--preset=small"]
    result = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
    assert result.returncode == 1
    assert "error: " in result.stderr and "metadata.csv: not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_retrain_decoder_only_loads_a_trained_model(features, tmp_path):
    log_dir = str(tmp_path / "run")
    train.train(tiny(), features, log_dir, max_steps=2, valid_batches=0)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(log_dir, "checkpoints")))
    embedding = [n for n in reader.get_variable_to_shape_map() if "phone_embedding" in n and n.startswith("model/")]
    value = reader.get_tensor(embedding[0])
    train.train(tiny("retrain_decoder_only=true"), features, log_dir, max_steps=4, valid_batches=0)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(log_dir, "checkpoints")))
    np.testing.assert_array_equal(reader.get_tensor(embedding[0]), value)


def test_cli_mirrored_strategy_over_two_cpu_replicas(features, tmp_path):
    log_dir = str(tmp_path / "run")
    command = [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={features}", f"--log_dir={log_dir}",
               "--preset=small", "--max_steps=3", "--valid_batches=0", "--cpu_replicas=2",
               f"--hparams={TINY},batch_size=4"]
    result = subprocess.run(command, cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Finished at step 3" in result.stdout
    assert checkpoint_values(log_dir) == (3, 3)
