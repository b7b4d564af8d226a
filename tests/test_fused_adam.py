"""FusedAdam (tacotron/fused_adam.py) against keras.optimizers.Adam: the same updates, variables and checkpoints."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tacotron.fused_adam import FusedAdam


def _run(optimizer_class, steps, clipnorm, jit_compile=False):
    """Values of two variables after `steps` updates with fixed seeded gradients (large enough to be clipped)."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.standard_normal((7, 5)).astype(np.float32), name="kernel"),
                 keras.Variable(rng.standard_normal((5,)).astype(np.float32), name="bias")]
    gradients = [[tf.constant(rng.standard_normal(variable.shape).astype(np.float32) * 3.0)
                  for variable in variables] for _ in range(steps)]
    schedule = keras.optimizers.schedules.ExponentialDecay(2e-3, decay_steps=2, decay_rate=0.5)
    optimizer = optimizer_class(learning_rate=schedule, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                                global_clipnorm=clipnorm, name="adam")
    optimizer.build(variables)
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)), jit_compile=jit_compile)
    for step_gradients in gradients:
        apply(step_gradients)
    return optimizer, variables


@pytest.mark.parametrize("clipnorm", [None, 1.0])
def test_fused_adam_matches_keras_adam(clipnorm):
    _, initial = _run(FusedAdam, steps=0, clipnorm=clipnorm)
    _, expected = _run(keras.optimizers.Adam, steps=4, clipnorm=clipnorm)
    optimizer, actual = _run(FusedAdam, steps=4, clipnorm=clipnorm)
    for start, want, got in zip(initial, expected, actual):
        assert np.abs(got.numpy() - start.numpy()).min() > 1e-4  # every entry moved
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    assert int(optimizer.iterations.numpy()) == 4


def test_fused_adam_moments_and_checkpoint_paths_are_keras_adams():
    keras_optimizer, _ = _run(keras.optimizers.Adam, steps=3, clipnorm=1.0)
    fused_optimizer, _ = _run(FusedAdam, steps=3, clipnorm=1.0)
    assert [v.path for v in fused_optimizer.variables] == [v.path for v in keras_optimizer.variables]
    for want, got in zip(keras_optimizer.variables, fused_optimizer.variables):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-8)
    assert FusedAdam.from_config(fused_optimizer.get_config()).get_config() == fused_optimizer.get_config()


def test_fused_adam_under_xla_matches():
    _, expected = _run(keras.optimizers.Adam, steps=2, clipnorm=1.0)
    _, actual = _run(FusedAdam, steps=2, clipnorm=1.0, jit_compile=True)
    for want, got in zip(expected, actual):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
