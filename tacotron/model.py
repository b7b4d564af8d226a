"""The course's Tacotron: encoder (embedding, pre-net, CBHG) -> attention decoder -> post-net.

`create_model(hp)` is the one place that reads hparams; the layers below take plain arguments.
"""
import keras
import tensorflow as tf

from text.phones_mix import NUM_IDS
from modules.attention_factory import attention_config_from
from modules.decoder import TacotronDecoder
from modules.encoder import Encoder
from modules.layers import PostNet


class Tacotron(keras.Model):
    """Phones -> mel frames, stop logits and alignments.

    Args:
        encoder_config: keyword arguments of modules.encoder.Encoder.
        decoder_config: keyword arguments of modules.decoder.TacotronDecoder.
        postnet_config: keyword arguments of modules.layers.PostNet (without output_dim).
    """

    def __init__(self, encoder_config, decoder_config, postnet_config, **kwargs):
        super().__init__(**kwargs)
        self.encoder_config = dict(encoder_config)
        self.decoder_config = dict(decoder_config)
        self.postnet_config = dict(postnet_config)
        self.encoder = Encoder(name="encoder", **self.encoder_config)
        self.decoder = TacotronDecoder(name="decoder", **self.decoder_config)
        self.postnet = PostNet(output_dim=self.decoder_config["acoustic_dim"], name="postnet",
                               **self.postnet_config)

    @property
    def outputs_per_step(self):
        return self.decoder_config["outputs_per_step"]

    def encoder_variables(self):
        """Variables frozen by `retrain_decoder_only` (phone embedding, encoder pre-net, encoder)."""
        return self.encoder.trainable_variables

    def call(self, phones, input_lengths, mel_targets, mel_lengths=None, training=False):
        """Teacher-forced forward pass.

        Args:
            phones: [B, T_in] int32; input_lengths: [B] int32.
            mel_targets: [B, T_out, n_mels], T_out a multiple of r.
            mel_lengths: optional [B] int32 true frame counts; the post-net then ignores padded frames
                (batch-norm statistics) and its residual is zero there.
        Returns:
            dict(mel_before, mel_after [B, T_out, n_mels], stop_logits [B, T_out],
                 alignments [B, T_out / r, T_in])
        """
        memory = self.encoder(phones, input_lengths, training=training)
        decoded = self.decoder(memory, input_lengths, mel_targets, training=training)
        mask = None
        if mel_lengths is not None:
            mask = tf.sequence_mask(mel_lengths, tf.shape(mel_targets)[1])
        mel_after = decoded["frames"] + self.postnet(decoded["frames"], mask=mask, training=training)
        return {"mel_before": decoded["frames"], "mel_after": mel_after,
                "stop_logits": decoded["stop_logits"], "alignments": decoded["alignments"]}

    def inference_kernels(self):
        """The decoder LSTMs' kernels in the layout and precision `infer` uses, from the weights as they are
        now (TacotronDecoder.fused_kernels): a list of [4 units, D + units] tensors. Made once and passed to
        every `infer` call while the weights stay unchanged (tacotron.synthesis.infer_function, frozen=True),
        they spare each call stacking, casting and transposing ~60 MB of weights."""
        return self.decoder.fused_kernels(self.decoder.inference_precision, self.encoder.output_dim)

    def frozen_inference_kernels(self):
        """`inference_kernels()` copied into non-trainable variables, for a caller to hold and pass to every
        `infer` call (the model does not track them: its checkpoints do not change)."""
        return [tf.Variable(kernel, trainable=False, name="decoder_kernel") for kernel in self.inference_kernels()]

    def inference_kernel_sources(self):
        """The weights `inference_kernels` are made from (the decoder LSTMs' kernels and recurrent kernels);
        `infer` reads nothing else of them when given those kernels."""
        return self.decoder.cell.rnn.kernel_weights()

    def infer(self, phones, input_lengths, seeds=None, attention_window=None, decoder_kernels=None):
        """Free-running synthesis (both pre-nets keep their dropout on, as in the course; seed it with `seeds`).

        Args:
            phones: [B, T_in] int32; input_lengths: [B] int32.
            seeds: optional [B] int32 per-utterance dropout seeds (batch-independent results).
            attention_window: None (the hparam's), [] (off) or [back, ahead] (see TacotronDecoder).
            decoder_kernels: None (made from the current weights at each call), or `inference_kernels()` or
                `frozen_inference_kernels()` made earlier from the same weights.
        Returns:
            dict(mel [B, T, n_mels] zero beyond each length, mel_lengths [B], stop_probabilities [B, T],
                 alignments [B, T / r, T_in], hit_max_steps [B] bool)
        """
        encoder_seeds = None
        if seeds is not None:
            # Decoder steps fold step >= 0 into each seed; the encoder pre-net takes the otherwise unused -1.
            encoder_seeds = tf.stack([seeds, tf.fill(tf.shape(seeds), -1)], axis=1)
        memory = self.encoder(phones, input_lengths, training=False, seeds=encoder_seeds)
        decoded = self.decoder.infer(memory, input_lengths, seeds=seeds, attention_window=attention_window,
                                     fused_kernels=decoder_kernels)
        frames = decoded["frames"]
        mask = tf.sequence_mask(decoded["mel_lengths"], tf.shape(frames)[1])
        if self.decoder.inference_precision == "float32":
            residual = self.postnet(frames, mask=mask, training=False)
        else:  # the reduced-precision path: the post-net's products too (modules/layers.py)
            residual = self.postnet.folded_call(frames, mask, self.decoder.inference_precision)
        mel = (frames + residual) * tf.cast(mask, frames.dtype)[:, :, None]
        return {"mel": mel, "mel_lengths": decoded["mel_lengths"],
                "stop_probabilities": tf.sigmoid(tf.cast(decoded["stop_logits"], tf.float32)),
                "alignments": decoded["alignments"], "hit_max_steps": decoded["hit_max_steps"]}

    def get_config(self):
        config = super().get_config()
        config.update(encoder_config=self.encoder_config, decoder_config=self.decoder_config,
                      postnet_config=self.postnet_config)
        return config


def model_configs(hp):
    """The three layer configs of `Tacotron` from hparams."""
    encoder_config = dict(
        num_symbols=NUM_IDS, embedding_dim=hp.phone_embedding_dim, prenet_units=hp.encoder_prenet_units,
        prenet_dropout=hp.encoder_prenet_dropout, bank_size=hp.cbhg_bank_size,
        bank_filters=hp.cbhg_bank_filters, projection_filters=hp.cbhg_projection_filters,
        projection_kernel_size=hp.cbhg_projection_kernel_size, highway_units=hp.cbhg_highway_units,
        highway_layers=hp.cbhg_highway_layers, gru_units=hp.cbhg_gru_units,
        gru_reset_after=hp.cbhg_gru_reset_after)
    decoder_config = dict(
        attention_config=attention_config_from(hp)._asdict(),
        prenet_units=hp.decoder_prenet_units, prenet_dropout=hp.decoder_prenet_dropout,
        rnn_units=hp.decoder_rnn_units, zoneout_rate=hp.zoneout_rate, outputs_per_step=hp.outputs_per_step,
        acoustic_dim=hp.acoustic_dim, stop_threshold=hp.stop_threshold,
        min_decoder_steps=hp.min_decoder_steps, max_frames_per_phone=hp.max_frames_per_phone,
        attention_window=hp.attention_window, inference_precision=hp.inference_precision)
    postnet_config = dict(num_layers=hp.postnet_layers, filters=hp.postnet_filters,
                          kernel_size=hp.postnet_kernel_size, dropout_rate=hp.postnet_dropout)
    return encoder_config, decoder_config, postnet_config


def create_model(hp):
    """Builds the Tacotron from hparams and creates its variables with a tiny dummy batch."""
    encoder_config, decoder_config, postnet_config = model_configs(hp)
    model = Tacotron(encoder_config, decoder_config, postnet_config, name="tacotron")
    r = hp.outputs_per_step
    model(tf.ones([1, 3], tf.int32), tf.constant([3], tf.int32), tf.zeros([1, r, hp.acoustic_dim]),
          training=False)
    return model
