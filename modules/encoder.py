"""The Tacotron-1 encoder of the course: phone embedding -> pre-net -> CBHG."""
import keras
import tensorflow as tf

from modules.layers import CBHG
from modules.layers import Prenet


class Encoder(keras.layers.Layer):
    """Encodes phone ids into the attention memory.

    Args:
        num_symbols: embedding table size (inventory + padding id 0).
        embedding_dim: phone embedding size (truncated-normal initialised, stddev 0.5, as the course).
        prenet_units, prenet_dropout: encoder pre-net; its dropout stays on at inference, as the course's
            PreNet (`training=True` always).
        bank_size, bank_filters, projection_filters, projection_kernel_size, highway_units,
        highway_layers, gru_units, gru_reset_after: CBHG sizes (course: 16, 128, [512, 512], 3, 128, 4, 128,
            TF1 GRUCell).
    """

    def __init__(self, num_symbols, embedding_dim, prenet_units, prenet_dropout, bank_size, bank_filters,
                 projection_filters, projection_kernel_size, highway_units, highway_layers, gru_units,
                 gru_reset_after=False, **kwargs):
        super().__init__(**kwargs)
        self._config = dict(num_symbols=num_symbols, embedding_dim=embedding_dim,
                            prenet_units=list(prenet_units), prenet_dropout=prenet_dropout,
                            bank_size=bank_size, bank_filters=bank_filters,
                            projection_filters=list(projection_filters),
                            projection_kernel_size=projection_kernel_size, highway_units=highway_units,
                            highway_layers=highway_layers, gru_units=gru_units, gru_reset_after=gru_reset_after)
        self.embedding = keras.layers.Embedding(
            num_symbols, embedding_dim, name="phone_embedding",
            embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.5))
        self.prenet = Prenet(units=list(prenet_units), dropout_rate=prenet_dropout, always_dropout=True,
                             name="encoder_prenet")
        self.cbhg = CBHG(bank_size=bank_size, bank_filters=bank_filters,
                         projection_filters=list(projection_filters),
                         projection_kernel_size=projection_kernel_size, highway_units=highway_units,
                         highway_layers=highway_layers, gru_units=gru_units, gru_reset_after=gru_reset_after,
                         name="encoder_cbhg")

    @property
    def output_dim(self):
        """D_mem, the memory width (both GRU directions)."""
        return 2 * self._config["gru_units"]

    def call(self, phones, input_lengths, training=False, seeds=None):
        """Args:
            phones: [B, T_in] int32 ids, padded with 0.
            input_lengths: [B] int32.
            seeds: optional int32 [B, 2] per-utterance stateless seeds of the pre-net dropout (synthesis that
                does not depend on the batch); None draws ordinary random masks.
        Returns:
            memory [B, T_in, D_mem], zero at padded positions.
        """
        mask = tf.sequence_mask(input_lengths, tf.shape(phones)[1])
        embedded = self.embedding(phones)
        prenet_output = self.prenet(embedded, training=training, seeds=seeds)
        return self.cbhg(prenet_output, mask=mask, training=training)

    def compute_mask(self, inputs, mask=None):
        """The memory carries no Keras mask; consumers take `input_lengths` explicitly."""
        return None

    def get_config(self):
        config = super().get_config()
        config.update(self._config)
        return config
