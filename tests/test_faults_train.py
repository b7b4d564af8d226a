"""train.py under faults: kill -9 at random moments (during steps, checkpoint saves and summaries), a full
disk while saving a checkpoint, and a resume that continues step, schedule and data order."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

import train
from conftest import ROOT
from tacotron import run_dir

pytestmark = pytest.mark.slow

# Summaries every 3 steps and checkpoints every 2: a kill often lands in one of them.
SETTINGS = "batch_size=4,save_summary_steps=3,save_checkpoints_steps=2"


def train_command(features_dir, log_dir, max_steps, overrides):
    return [sys.executable, os.path.join(ROOT, "train.py"), f"--data_dir={features_dir}", f"--log_dir={log_dir}",
            "--preset=small", f"--max_steps={max_steps}", "--valid_batches=1", "--progress_seconds=0",
            f"--hparams={overrides}"]


def run_until(command, cwd, stop_after_step):
    """Starts train.py and SIGKILLs it right after it reports step `stop_after_step` (the moment it goes on
    to that step's summary / checkpoint save) or when it ends. Returns (returncode, output)."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines, deadline = [], time.time() + 240
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("train ") and int(line.split()[1].split("/")[0]) >= stop_after_step:
            process.send_signal(signal.SIGKILL)
            break
    output, _ = process.communicate(timeout=120)
    return process.returncode, "".join(lines) + output


def assert_checkpoint_readable(log_dir):
    latest = run_dir.latest_checkpoint(log_dir)
    assert latest is not None
    reader = tf.train.load_checkpoint(latest)  # raises on a torn checkpoint
    assert reader.get_variable_to_shape_map()
    return int(latest.rsplit("-", 1)[1])


def test_kill_minus_nine_at_random_moments_then_resume(demo_features, tmp_path, tiny_overrides, checkpoint_state):
    log_dir, max_steps = str(tmp_path / "run"), 14
    command = train_command(demo_features, log_dir, max_steps, tiny_overrides(SETTINGS))
    rng = random.Random(7)
    # A save step (2, 4, ...), a summary step (3, 9), and a random one: SIGKILL lands in the step, the save or
    # the summary that follows the progress line.
    moments = [4, 9, rng.randint(10, 12)]
    finished = 0
    for moment in moments:
        code, output = run_until(command, str(tmp_path), moment)
        assert code == -signal.SIGKILL, output[-2000:]
        saved = assert_checkpoint_readable(log_dir)
        assert finished <= saved <= moment
        finished = saved
    code, output = run_until(command, str(tmp_path), max_steps + 1)
    assert code == 0, output[-3000:]
    resumed = [line for line in output.splitlines() if line.startswith("resumed from")]
    assert len(resumed) == 1 and f"at step {finished} " in resumed[0] and "data order continue" in resumed[0]
    assert "Finished at step 14" in output
    assert not [name for name in os.listdir(run_dir.checkpoint_dir(log_dir)) if "_temp" in name]
    assert checkpoint_state(log_dir) == (14, 14)  # the step and the schedule's optimizer iterations agree


def test_resume_starts_the_data_order_at_the_restored_step(demo_features, tmp_path, monkeypatch, tiny_hparams):
    log_dir = str(tmp_path / "run")
    hp = tiny_hparams(SETTINGS)
    train.train(hp, demo_features, log_dir, max_steps=3, valid_batches=0)
    starts = []
    real = train.dataset_from_hparams

    def recording(data_dir, split, hp, training, start_step=0):
        if training:
            starts.append(start_step)
        return real(data_dir, split, hp, training, start_step=start_step)

    monkeypatch.setattr(train, "dataset_from_hparams", recording)
    train.train(hp, demo_features, log_dir, max_steps=5, valid_batches=0)
    assert starts == [3]


def _mount_tmpfs(path, size_kb):
    os.makedirs(path, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", path],
                            capture_output=True, text=True)
    return result.returncode == 0


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one(demo_features, tmp_path, tiny_hparams,
                                                                   checkpoint_state):
    hp = tiny_hparams(SETTINGS)
    probe = str(tmp_path / "probe")
    train.train(hp, demo_features, probe, max_steps=2, valid_batches=0)
    size = sum(os.path.getsize(os.path.join(run_dir.checkpoint_dir(probe), name))
               for name in os.listdir(run_dir.checkpoint_dir(probe)))
    disk = str(tmp_path / "small_disk")
    # Room for one checkpoint, the hparams and the events file, not for a second checkpoint beside it.
    if not _mount_tmpfs(disk, (size * 3 // 2) // 1024 + 64):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        log_dir = os.path.join(disk, "run")
        with pytest.raises(train.TrainingError, match=r"saving the checkpoint of step 4 failed .*latest "
                                                      r"complete checkpoint is .*ckpt-2$"):
            train.train(hp, demo_features, log_dir, max_steps=6, valid_batches=0)
        assert assert_checkpoint_readable(log_dir) == 2
        names = os.listdir(run_dir.checkpoint_dir(log_dir))
        assert not [name for name in names if "ckpt-4" in name], names  # nothing of the failed save remains
        assert checkpoint_state(log_dir) == (2, 2)
    finally:
        subprocess.run(["umount", disk], check=False)
