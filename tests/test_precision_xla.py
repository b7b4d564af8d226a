"""Mixed precision and XLA train steps run and give finite losses (tiny model)."""
import keras
import numpy as np
import pytest

from tacotron.model import create_model
from tacotron.trainer import create_optimizer
from tacotron.trainer import make_train_step
from tacotron.trainer import trainable_variables
from test_model import make_batch
from test_model import tiny_hparams


def _losses(mixed_precision="none", jit_compile=False, steps=2):
    hp = tiny_hparams()
    keras.utils.set_random_seed(0)
    model = create_model(hp)
    optimizer = create_optimizer(hp, mixed_precision)
    variables = trainable_variables(model, False)
    optimizer.build(variables)
    step = make_train_step(model, optimizer, variables, hp.outputs_per_step, 20.0, 80, jit_compile=jit_compile)
    return model, [float(step(make_batch(3, seed=i))["loss"]) for i in range(steps)]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_train_step(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model, losses = _losses(policy)
        assert np.all(np.isfinite(losses))
        assert model.decoder.cell.attention.compute_dtype == policy.split("_")[1]
        assert all(v.dtype == "float32" for v in model.trainable_variables), "variables stay float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_xla_train_step_matches_shapes_and_is_finite():
    _, losses = _losses(jit_compile=True)
    assert np.all(np.isfinite(losses))
