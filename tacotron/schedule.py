"""The course's learning-rate schedule."""
import keras
import tensorflow as tf


def course_learning_rate(step, start_lr, end_lr, start_decay, decay_steps, decay_rate):
    """Constant start_lr until start_decay, then staircase exponential decay, clipped to [end_lr, start_lr].

    Args:
        step: scalar (int or tensor), the optimizer step.
    Returns:
        scalar float32 tensor.
    """
    step = tf.cast(step, tf.float32)
    stairs = tf.floor(tf.maximum(step - start_decay, 0.0) / decay_steps)
    decayed = start_lr * tf.pow(decay_rate, stairs)
    return tf.clip_by_value(decayed, end_lr, start_lr)


@keras.saving.register_keras_serializable(package="tacotron")
class CourseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`course_learning_rate` as a Keras schedule (the optimizer calls it with its iteration count)."""

    def __init__(self, start_lr, end_lr, start_decay, decay_steps, decay_rate):
        self.start_lr = start_lr
        self.end_lr = end_lr
        self.start_decay = start_decay
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate

    def __call__(self, step):
        return course_learning_rate(step, self.start_lr, self.end_lr, self.start_decay, self.decay_steps,
                                    self.decay_rate)

    def get_config(self):
        return dict(start_lr=self.start_lr, end_lr=self.end_lr, start_decay=self.start_decay,
                    decay_steps=self.decay_steps, decay_rate=self.decay_rate)
