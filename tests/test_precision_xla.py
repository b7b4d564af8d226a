"""Mixed precision and XLA train steps run and give finite losses (tiny model)."""
import keras
import numpy as np
import pytest

from tacotron.trainer import build_trainer


def _losses(tiny_hparams, make_batch, mixed_precision="none", jit_compile=False, steps=2):
    keras.utils.set_random_seed(0)
    trainer = build_trainer(tiny_hparams(), mixed_precision, jit_compile)
    return trainer.model, [float(trainer.train_step(make_batch(3, seed=i))["loss"]) for i in range(steps)]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_train_step(policy, tiny_hparams, make_batch):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model, losses = _losses(tiny_hparams, make_batch, policy)
        assert np.all(np.isfinite(losses))
        assert model.decoder.cell.attention.compute_dtype == policy.split("_")[1]
        assert all(v.dtype == "float32" for v in model.trainable_variables), "variables stay float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_xla_train_step_matches_shapes_and_is_finite(tiny_hparams, make_batch):
    _, losses = _losses(tiny_hparams, make_batch, jit_compile=True)
    assert np.all(np.isfinite(losses))
