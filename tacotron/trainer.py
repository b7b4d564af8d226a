"""The trainer: model, optimizer and the training step, built in one place (`build_trainer`).

The step is one `tf.function` with an input signature that has unknown batch and time dimensions, so it is
traced once (not once per batch shape).
"""
import collections

import keras
import tensorflow as tf

from tacotron.fused_adam import FusedAdam
from tacotron.losses import loss_config_from
from tacotron.losses import tacotron_loss
from tacotron.model import create_model
from tacotron.schedule import CourseSchedule

Trainer = collections.namedtuple("Trainer", ["model", "optimizer", "variables", "train_step", "eval_step"])
MIXED_PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")  # --mixed_precision of train.py and the benchmarks


def set_mixed_precision(mixed_precision):
    """Sets Keras' global dtype policy for a --mixed_precision value ("none" is float32). The layers take their
    dtypes from it when built, so call it before build_trainer (and again after keras.backend.clear_session(),
    which resets it)."""
    if mixed_precision not in MIXED_PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISIONS}, not {mixed_precision!r}")
    keras.mixed_precision.set_global_policy("float32" if mixed_precision == "none" else mixed_precision)


def batch_signature(acoustic_dim):
    """tf.TensorSpecs of the tensors of a training batch (see datasets/data_reader.py) that the step
    uses, all lengths unknown. The string `utt_id` stays outside (XLA cannot take strings)."""
    return {
        "phones": tf.TensorSpec([None, None], tf.int32),
        "input_lengths": tf.TensorSpec([None], tf.int32),
        "mel": tf.TensorSpec([None, None, acoustic_dim], tf.float32),
        "mel_lengths": tf.TensorSpec([None], tf.int32),
        "stop_targets": tf.TensorSpec([None, None], tf.float32),
    }


def create_optimizer(hp, mixed_precision):
    """Adam (tacotron/fused_adam.py: Keras' Adam with a fused update) with the course schedule and global-norm
    clipping; wrapped for loss scaling under float16."""
    schedule = CourseSchedule(hp.start_lr, hp.end_lr, hp.start_decay, hp.decay_steps, hp.decay_rate)
    optimizer = FusedAdam(learning_rate=schedule, beta_1=hp.adam_beta1, beta_2=hp.adam_beta2,
                          epsilon=hp.adam_epsilon, global_clipnorm=hp.gradclip_value,
                          name="adam")  # named: checkpoints key variables by path
    if mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
    return optimizer


def trainable_variables(model, retrain_decoder_only):
    """All trainable variables, or all but the encoder's when retraining the decoder only."""
    if not retrain_decoder_only:
        return model.trainable_variables
    frozen = {id(variable) for variable in model.encoder_variables()}
    return [variable for variable in model.trainable_variables if id(variable) not in frozen]


def numeric(batch):
    """The batch without its `utt_id` strings."""
    return {name: value for name, value in batch.items() if name != "utt_id"}


def make_train_step(model, optimizer, variables, loss_config, acoustic_dim,
                    jit_compile=False, strategy=None):
    """Returns `train_step(batch) -> dict of scalars (loss, before, after, stop, [guided,] grad_norm, lr)`.

    loss_config: tacotron.losses.LossConfig.

    `train_step.trace_count()` tells how often it was traced (tests bound it).
    """
    traces = []
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(batch):
        with tf.GradientTape() as tape:
            outputs = model(batch["phones"], batch["input_lengths"], batch["mel"], batch["mel_lengths"],
                            training=True)
            losses = tacotron_loss(batch, outputs, loss_config)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss = losses["loss"] / replicas
            scaled = optimizer.scale_loss(loss) if loss_scaled else loss
        gradients = tape.gradient(scaled, variables)
        grad_norm = tf.linalg.global_norm(gradients)
        if loss_scaled:
            grad_norm = grad_norm / optimizer.scale_loss(1.0)
        optimizer.apply_gradients(zip(gradients, variables))
        losses["grad_norm"] = grad_norm
        return losses

    def step(batch):
        traces.append(1)
        batch = numeric(batch)
        if strategy is None or strategy.num_replicas_in_sync == 1:
            results = replica_step(batch)
        else:
            per_replica = strategy.run(replica_step, args=(batch,))
            results = {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                       for name, value in per_replica.items()}
        results["lr"] = tf.cast(optimizer.learning_rate, tf.float32)
        return results

    if strategy is None or strategy.num_replicas_in_sync == 1:
        compiled = tf.function(step, input_signature=[batch_signature(acoustic_dim)],
                               jit_compile=jit_compile or None)
    else:
        compiled = tf.function(step, reduce_retracing=True, jit_compile=jit_compile or None)

    def train_step(batch):
        return compiled(numeric(batch))

    train_step.trace_count = lambda: len(traces)
    return train_step


def make_eval_step(model, loss_config, acoustic_dim):
    """Returns `eval_step(batch) -> (losses dict, outputs dict)`: teacher-forced, no dropout updates."""

    @tf.function(input_signature=[batch_signature(acoustic_dim)])
    def compiled(batch):
        outputs = model(batch["phones"], batch["input_lengths"], batch["mel"], batch["mel_lengths"],
                        training=False)
        return tacotron_loss(batch, outputs, loss_config), outputs

    def eval_step(batch):
        return compiled(numeric(batch))

    return eval_step


def build_trainer(hp, mixed_precision="none", jit_compile=False, strategy=None):
    """The one way to build a trainer: model -> optimizer -> build -> step functions.

    Args:
        hp: HParams.
        mixed_precision: "none", "mixed_float16" or "mixed_bfloat16". The Keras global policy must already be
            set to it with set_mixed_precision (it decides the layers' dtypes); this picks the loss-scaling
            optimizer.
        jit_compile: compile the train step with XLA.
        strategy: a tf.distribute strategy whose scope holds the variables (default: the current one).
    Returns:
        Trainer(model, optimizer, variables, train_step, eval_step).
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = create_model(hp)
        optimizer = create_optimizer(hp, mixed_precision)
        variables = trainable_variables(model, hp.retrain_decoder_only)
        optimizer.build(variables)
    loss_config = loss_config_from(hp)
    train_step = make_train_step(model, optimizer, variables, loss_config, hp.acoustic_dim,
                                 jit_compile=jit_compile, strategy=strategy)
    eval_step = make_eval_step(model, loss_config, hp.acoustic_dim)
    return Trainer(model, optimizer, variables, train_step, eval_step)
