"""Loading a trained model for synthesis and export, and the per-utterance dropout seeds.

A training directory (train.py --log_dir, layout in tacotron/run_dir.py) holds `hparams.yaml` and
`checkpoints/`; that is all synthesis and export need, so no flag has to be repeated.
"""
import os
import zlib

import tensorflow as tf

import hparams as hparams_lib
from tacotron import run_dir
from tacotron.checkpoints import make_checkpoint
from tacotron.checkpoints import restore
from tacotron.model import create_model


class ModelLoadError(ValueError):
    """A training directory that cannot be loaded; the message names the file and the problem."""


def parse_window(text):
    """The --attention_window flag: "off" -> [], "1,3" -> [1, 3]. Raises ValueError with the flag's name."""
    if text.strip().lower() == "off":
        return []
    try:
        window = [int(value) for value in text.split(",")]
    except ValueError:
        window = []
    if len(window) != 2 or min(window) < 0:
        raise ValueError(f"--attention_window={text}: give back,ahead (two non-negative integers, e.g. 1,3) "
                         "or off")
    return window


def load_model(checkpoint_dir, checkpoint_path=None, attention_window=None, inference_precision=None):
    """Builds the model from `<checkpoint_dir>/hparams.yaml` and restores the latest checkpoint.

    Args:
        checkpoint_dir: a train.py --log_dir.
        checkpoint_path: a specific checkpoint prefix (default: the latest in checkpoint_dir/checkpoints).
        attention_window: None (the run's hparam) or the hparam attention_window to synthesise with ([] = off,
            [back, ahead]); it changes no weight.
        inference_precision: None (the run's hparam), "float32" or "bfloat16" (hparam inference_precision).
    Returns:
        (model, hp, checkpoint_path)
    Raises:
        ModelLoadError naming the missing or mismatching file.
    """
    hparams_path = run_dir.hparams_path(checkpoint_dir)
    if not os.path.isfile(hparams_path):
        raise ModelLoadError(f"{hparams_path}: not found (is {checkpoint_dir} a train.py --log_dir?)")
    try:
        hp = run_dir.load_hparams(checkpoint_dir)
        if attention_window is not None:
            hp = hp.replace(attention_window=attention_window)
        if inference_precision is not None:
            hp = hp.replace(inference_precision=inference_precision)
    except hparams_lib.HParamsError as error:
        raise ModelLoadError(str(error)) from None
    if checkpoint_path is None:
        checkpoint_path = run_dir.latest_checkpoint(checkpoint_dir)
        if checkpoint_path is None:
            raise ModelLoadError(f"{run_dir.checkpoint_dir(checkpoint_dir)}: no checkpoint found")
    model = create_model(hp)
    try:
        restore(make_checkpoint(model), checkpoint_path)
    except (ValueError, tf.errors.OpError) as error:
        raise ModelLoadError(f"{checkpoint_path}: does not match {hparams_path} "
                             f"({str(error).splitlines()[0]})") from None
    return model, hp, checkpoint_path


def utterance_seed(seed, utt_id):
    """The pre-net dropout seed of one utterance: depends on the run seed and the utterance id only, so an
    utterance synthesises the same alone or in any batch. Returns a non-negative int32."""
    return (zlib.crc32(utt_id.encode("utf-8")) ^ (seed * 2654435761)) & 0x7FFFFFFF
