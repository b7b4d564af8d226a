"""kill -9 of export.py: --output_dir holds the previous SavedModel or the new one, never a half-written one;
a first export leaves none or a complete one. Plus the swap itself killed at each of its steps, and a
checkpoint directory without checkpoints."""
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import export
from conftest import ROOT
from datasets import fileio
from tacotron.checkpoints import make_checkpoint
from tacotron.run_dir import write_run
from tacotron.model import create_model

# The tiny model of conftest.py with these settings.
SETTINGS = "max_frames_per_phone=3,griffin_lim_iters=2"
SIGNATURES = ["serving_default", "serving_seeded", "synthesize_wav"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_hparams):
    directory = tmp_path_factory.mktemp("run")
    hp = tiny_hparams(SETTINGS)
    keras.utils.set_random_seed(0)
    write_run(str(directory), hp, make_checkpoint(create_model(hp)))
    return str(directory)


def env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def export_seed(saved_model_dir):
    """The export seed of a complete SavedModel (loading fails on a half-written one)."""
    loaded = tf.saved_model.load(saved_model_dir)
    assert sorted(loaded.signatures) == SIGNATURES
    return int(loaded.seed.numpy())


def kill_export_at_random(run_dir, output_dir, seed, delay):
    """Runs export.py and kills it with SIGKILL `delay` seconds after its staging directory appears."""
    parent, name = os.path.split(output_dir)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "export.py"), f"--checkpoint_dir={run_dir}",
                                f"--output_dir={output_dir}", f"--seed={seed}"],
                               cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            if os.path.isdir(parent) and any(fileio.is_temp_name(entry, name) for entry in os.listdir(parent)):
                break
            time.sleep(0.005)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.slow  # about 35 s on 2 shared cores: two export.py runs killed, one export in-process
def test_kill_9_leaves_the_previous_saved_model_or_the_new_one(run_dir, tmp_path):
    delays = np.random.default_rng(5).uniform(0.0, 5.0, size=2)  # the save takes about 6 s here
    target = str(tmp_path / "models" / "tacotron" / "1")

    kill_export_at_random(run_dir, target, 11, delays[0])  # a first export
    assert not os.path.exists(target) or export_seed(target) == 11

    export.export_saved_model(run_dir, target, seed=22)  # cleans up after the killed one
    assert os.listdir(os.path.dirname(target)) == ["1"] and export_seed(target) == 22

    kill_export_at_random(run_dir, target, 33, delays[1])  # over an existing SavedModel
    assert export_seed(target) in (22, 33)

    export.clean_up_killed_export(target)  # what the next export does first
    assert os.listdir(os.path.dirname(target)) == ["1"] and export_seed(target) in (22, 33)


# The swap of the new SavedModel into place (datasets.fileio.replace_directory), killed at each step in a
# process of its own. argv: staging dir, target, where to die: "exchanged" (after the atomic swap, before
# the old one is deleted), "aside" or "renamed" (the two-rename fallback of filesystems that cannot swap:
# after the old one is moved aside / after the new one is in place).
SWAP_SCRIPT = """
import os, shutil, signal, sys
sys.path.insert(0, os.getcwd())
from datasets import fileio
staging, target, where = sys.argv[1:]
die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
shutil.rmtree = die
if where != "exchanged":
    fileio._exchange = lambda a, b: False
if where == "aside":
    real_replace, calls = os.replace, []
    def replace(source, destination):
        calls.append(source)
        if len(calls) == 2:
            die()
        real_replace(source, destination)
    os.replace = replace
fileio.replace_directory(staging, target)
"""


def fake_saved_model(directory, content):
    os.makedirs(os.path.join(directory, "variables"))
    with open(os.path.join(directory, export.SAVED_MODEL_FILE), "w") as handle:
        handle.write(content)
    return str(directory)


@pytest.mark.parametrize("where", ["exchanged", "aside", "renamed"])
def test_the_swap_killed_at_each_step(tmp_path, where):
    target = fake_saved_model(tmp_path / "1", "old")
    staging = fake_saved_model(tmp_path / ".1.abcd1234.tmp", "new")
    process = subprocess.run([sys.executable, "-c", SWAP_SCRIPT, staging, target, where], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr
    if where == "exchanged" and os.path.exists(staging):  # swapped: the old model waits to be deleted
        assert open(os.path.join(staging, export.SAVED_MODEL_FILE)).read() == "old"
    saved = os.path.join(target, export.SAVED_MODEL_FILE)
    if where == "aside":
        # The only moment without a target: the next export puts the old model back before anything else.
        assert not os.path.exists(target)
        export.clean_up_killed_export(target)
        assert open(saved).read() == "old"
    else:
        assert open(saved).read() == "new"
        export.clean_up_killed_export(target)
    assert os.listdir(tmp_path) == ["1"] and sorted(os.listdir(target)) == ["saved_model.pb", "variables"]


def test_clean_up_touches_only_this_targets_temporaries(tmp_path):
    for name in ["1", ".1.abcd1234.tmp", ".1.assets.abcd1234.tmp", ".1.old.abcd1234.tmp", "2",
                 ".2.abcd1234.tmp", ".1.5.abcd1234.tmp", "notes"]:
        os.makedirs(tmp_path / name)
    export.clean_up_killed_export(str(tmp_path / "1"))
    assert sorted(os.listdir(tmp_path)) == [".1.5.abcd1234.tmp", ".2.abcd1234.tmp", "1", "2", "notes"]


@pytest.mark.slow  # about 6 s: one export.py run
def test_cli_names_a_checkpoint_dir_without_checkpoints(run_dir, tmp_path):
    empty = tmp_path / "run"
    (empty / "checkpoints").mkdir(parents=True)
    os.link(os.path.join(run_dir, "hparams.yaml"), empty / "hparams.yaml")
    process = subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), f"--checkpoint_dir={empty}",
                              f"--output_dir={tmp_path / 'out'}"], cwd=ROOT, env=env(), capture_output=True,
                             text=True, timeout=180)
    assert process.returncode == 1
    assert [line for line in process.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {empty}/checkpoints: no checkpoint found"]
    assert "Traceback" not in process.stderr
    assert not os.path.exists(tmp_path / "out")
