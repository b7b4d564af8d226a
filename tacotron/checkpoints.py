"""tf.train.Checkpoint for Keras 3 models and optimizers.

Keras 3 layers keep their sub-layers in plain Python lists, which TensorFlow's object-graph checkpointing
does not follow; a checkpoint of the model object alone silently misses those weights. We therefore
checkpoint every variable by its Keras path (`tacotron/decoder/decoder_rnn/.../kernel`), which is stable
because every layer of the model is named explicitly. Restoring checks that every variable was found.
"""
import tensorflow as tf


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the model built from the current hparams."""


def variables_by_path(variables):
    """{path: variable} for Keras variables; raises if two share a path."""
    mapping = {}
    for variable in variables:
        if variable.path in mapping:
            raise ValueError(f"two variables share the path {variable.path!r}; name the layers explicitly")
        mapping[variable.path] = variable
    return mapping


def make_checkpoint(model, optimizer=None, step=None):
    """A tf.train.Checkpoint of the model's variables, the optimizer's (if given) and a step counter."""
    tracked = {"model": variables_by_path(model.weights)}
    if optimizer is not None:
        tracked["optimizer"] = variables_by_path(optimizer.variables)
    if step is not None:
        tracked["step"] = step
    return tf.train.Checkpoint(**tracked)


def _escape(name):
    """How tf.train.Checkpoint spells a dict key in its variable names."""
    return name.replace(".", "..").replace("/", ".S")


def restore(checkpoint, path):
    """Restores `path` into `checkpoint`; every variable must be present with its shape.

    Raises:
        CheckpointMismatchError naming the checkpoint and the first mismatch.
    """
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    for group in ("model", "optimizer"):
        mapping = getattr(checkpoint, group, None)
        if mapping is None:
            continue
        for name, variable in mapping.items():
            key = f"{group}/{_escape(name)}/.ATTRIBUTES/VARIABLE_VALUE"
            if key not in shapes:
                raise CheckpointMismatchError(f"{path}: has no variable {name!r} (different hparams?)")
            if list(shapes[key]) != list(variable.shape):
                raise CheckpointMismatchError(
                    f"{path}: variable {name!r} has shape {shapes[key]} in the checkpoint but "
                    f"{list(variable.shape)} in the model built from these hparams")
    # expect_partial: a model-only restore (synthesis, export) leaves the optimizer's slots unread on purpose.
    checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
