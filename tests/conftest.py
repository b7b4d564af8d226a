"""Shared pytest setup (quiet TensorFlow, project root on sys.path) and the shared test helpers as fixtures:
`tiny_overrides` / `tiny_hparams` (a model small enough to build and train in seconds), `make_batch` (a
synthetic training batch), `demo_features` (a tiny preprocessed demo corpus) and `checkpoint_state`."""
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# The 50 real Biaobei utterances, used where present: $BIAOBEI_SAMPLE, else ../shared/data/biaobei_sample beside
# the clone. Tests that need them skip without them; a few take a synthetic signal instead.
BIAOBEI_SAMPLE = os.path.abspath(os.environ.get("BIAOBEI_SAMPLE")
                                 or os.path.join(ROOT, "..", "shared", "data", "biaobei_sample"))

# The sizes of a tiny model on top of the small preset; r = 2. Tests append their own settings.
TINY_MODEL = ("phone_embedding_dim=16,encoder_prenet_units=[16,16],cbhg_bank_size=2,cbhg_bank_filters=8,"
              "cbhg_projection_filters=[16,16],cbhg_highway_units=16,cbhg_highway_layers=1,cbhg_gru_units=8,"
              "decoder_prenet_units=[16,16],decoder_rnn_units=[32,32],attention_dim=16,gmm_hidden_units=16,"
              "postnet_layers=2,postnet_filters=16,location_kernel_size=5,location_filters=4,outputs_per_step=2")


@pytest.fixture(scope="session")
def tiny_overrides():
    """tiny_overrides("a=1,b=2") -> an --hparams string: the tiny model, then `extra`."""
    def make(extra=""):
        return TINY_MODEL + ("," + extra if extra else "")
    return make


@pytest.fixture(scope="session")
def tiny_hparams(tiny_overrides):
    """tiny_hparams("a=1") -> HParams of the small preset with the tiny model and `extra`."""
    import hparams as hparams_lib

    def make(extra=""):
        return hparams_lib.load_hparams(preset="small", overrides=tiny_overrides(extra))
    return make


@pytest.fixture(scope="session")
def make_batch():
    """make_batch(batch_size=3, acoustic_dim=80, r=2, seed=0) -> a training batch dict (see data_reader.py)
    of up to 5 utterances with fixed lengths, random phones ending with "~" and a smooth mel pattern."""
    import tensorflow as tf
    from text.phones_mix import EOS
    from text.phones_mix import symbol_id

    def make(batch_size=3, acoustic_dim=80, r=2, seed=0):
        rng = np.random.default_rng(seed)
        input_lengths = np.array([9, 6, 4, 7, 5][:batch_size], np.int32)
        mel_lengths = np.array([17, 12, 9, 14, 10][:batch_size], np.int32)
        t_in, t_out = input_lengths.max(), -(-mel_lengths.max() // r) * r
        phones = np.zeros((batch_size, t_in), np.int32)
        mel = np.full((batch_size, t_out, acoustic_dim), -4.1, np.float32)
        stop = np.ones((batch_size, t_out), np.float32)
        time_axis = np.arange(t_out)[:, None]
        bands = np.arange(acoustic_dim)[None, :]
        for b in range(batch_size):
            phones[b, :input_lengths[b]] = rng.integers(1, 113, input_lengths[b])
            phones[b, input_lengths[b] - 1] = symbol_id(EOS)
            pattern = 3.0 * np.sin(0.3 * time_axis * (b + 1) / 2 + 0.1 * bands)
            mel[b, :mel_lengths[b]] = pattern[:mel_lengths[b]]
            stop[b, :mel_lengths[b] - 1] = 0
        return {"utt_id": tf.constant([f"u{b}" for b in range(batch_size)]), "phones": tf.constant(phones),
                "input_lengths": tf.constant(input_lengths), "mel": tf.constant(mel),
                "mel_lengths": tf.constant(mel_lengths), "stop_targets": tf.constant(stop)}
    return make


@pytest.fixture(scope="session")
def demo_features(tmp_path_factory):
    """A preprocessed 10-utterance demo corpus (small preset features; 2 validation utterances)."""
    import hparams as hparams_lib
    from datasets.demo_corpus import make_demo_corpus
    from datasets.preprocessor import preprocess_corpus

    root = tmp_path_factory.mktemp("demo_features")
    make_demo_corpus(str(root / "corpus"), num_utterances=10, seed=3, min_phones=8, max_phones=14)
    preprocess_corpus(str(root / "corpus" / "labels"), str(root / "corpus" / "wavs"), str(root / "features"),
                      hparams_lib.load_hparams(preset="small"), valid_size=2, n_jobs=1)
    return str(root / "features")


@pytest.fixture(scope="session")
def checkpoint_state():
    """checkpoint_state(run_dir) -> (global step, optimizer iterations) of the run's latest checkpoint."""
    import tensorflow as tf
    from tacotron import run_dir

    def read(log_dir):
        reader = tf.train.load_checkpoint(run_dir.latest_checkpoint(log_dir))
        names = reader.get_variable_to_shape_map()
        step = reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")
        iteration = reader.get_tensor([n for n in names if n.startswith("optimizer/adam.Siteration")][0])
        return int(step), int(iteration)
    return read


# Runs an entry point whose atomic writes (datasets/fileio.py) fail with ENOSPC for files whose name starts
# with argv[2]: a full disk at a chosen file. argv[1] is the script, the rest its flags.
_FULL_DISK_SCRIPT = """
import errno, os, runpy, sys
sys.path.insert(0, os.getcwd())
from datasets import fileio
real_open, script, full_at = open, sys.argv[1], sys.argv[2]
def disk_open(path, mode="r", *args, **kwargs):
    if "w" in mode and os.path.basename(path).startswith(full_at):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_open(path, mode, *args, **kwargs)
fileio.open = disk_open
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
"""


@pytest.fixture(scope="session")
def full_disk_command():
    """full_disk_command("preprocess.py", ".a2.wav.", *flags) -> the argv of a Python process (run it in ROOT)
    in which writing a file whose name starts with ".a2.wav." fails with "No space left on device"."""
    return lambda script, full_at, *flags: [sys.executable, "-c", _FULL_DISK_SCRIPT, script, full_at, *flags]
