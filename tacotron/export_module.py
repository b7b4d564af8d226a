"""The tf.Module that export.py saves: the Tacotron's inference and the Griffin-Lim vocoder as signatures.

Signatures (every input is batched; phones are padded with id 0 beyond input_lengths):
    serving_default(phones, input_lengths) -> mel, mel_lengths, alignments, stop_probabilities
    serving_seeded(phones, input_lengths, seeds) -> the same plus hit_max_steps
    synthesize_wav(phones, input_lengths) -> wav, wav_lengths

Pre-net dropout stays on at inference (as in the course), so synthesis is random unless seeded:
serving_default and synthesize_wav use the export seed for every row, serving_seeded takes one seed per row.
Each row depends only on its own phones and seed, never on the rest of the batch.

Keras 3 keeps sub-layers in plain Python lists, which TensorFlow's object tracking does not follow, so the
model's variables are attached to the module explicitly (`model_variables`); the model object itself is
only closed over by the functions and is not part of the saved object graph.

The decoder LSTMs' kernels are saved once, in the layout and precision inference reads them in
(`Tacotron.inference_kernels`, `decoder_kernels`), instead of their training layout, which every call would
otherwise stack, cast and transpose again (~60 MB, 5-7 % of a batch-1 call). The SavedModel keeps its size in
float32 and is ~30 MB smaller when exported in bfloat16.
"""
import tensorflow as tf

from text.phones_mix import NUM_IDS
from text.phones_mix import PAD_ID
from text.phones_mix import ids_to_phones

PAD_SYMBOL = "<pad>"


def phone_inventory_lines():
    """The phone inventory as written to assets/phones.txt: line k is the symbol of id k (line 0 = padding)."""
    return [PAD_SYMBOL if index == PAD_ID else ids_to_phones([index])[0] for index in range(NUM_IDS)]


def backing_variables(keras_variables):
    """The tf.Variables behind Keras 3 variables, to attach to the exported module.

    Tracking the Keras variables themselves is not enough for TensorFlow Serving: on export each Keras
    variable is saved as a separate copy ("Variable_N") while the functions read the tf.Variable behind
    it, which the session-based loaders (TF Serving, saved_model_cli run) then never restore ("Could not
    find variable ..."; tensorflow/tensorflow#72963). tf.saved_model.load in Python hides the problem.
    """
    variables = [variable.value for variable in keras_variables]
    for keras_variable, variable in zip(keras_variables, variables):
        if not isinstance(variable, tf.Variable):
            raise TypeError(f"{keras_variable.path}: expected a tf.Variable behind it, got {type(variable)}")
    return variables


class TacotronExport(tf.Module):
    """Inference signatures of a restored Tacotron.

    Args:
        model: a restored tacotron.model.Tacotron.
        vocoder: a tacotron.griffin_lim.GriffinLim built from the same hparams.
        seed: int32 pre-net dropout seed of serving_default and synthesize_wav.
        phones_path: text file with the phone inventory (saved as assets/phones.txt).
        hparams_path: the effective hparams YAML (saved as assets/hparams.yaml).
    """

    def __init__(self, model, vocoder, seed, phones_path, hparams_path):
        super().__init__(name="tacotron_export")
        replaced = {id(weight) for weight in model.inference_kernel_sources()}
        self.model_variables = backing_variables([weight for weight in model.weights if id(weight) not in replaced])
        self.decoder_kernels = model.frozen_inference_kernels()
        self.seed = tf.Variable(seed, dtype=tf.int32, trainable=False, name="seed")
        self.phones_file = tf.saved_model.Asset(phones_path)
        self.hparams_file = tf.saved_model.Asset(hparams_path)
        self._infer = model.infer  # a bound method: closed over, not tracked (see the module docstring)
        self._vocoder = vocoder

    def _run(self, phones, input_lengths, seeds):
        """phones: [B, T_in] int32; input_lengths: [B] int32; seeds: [B] int32."""
        outputs = self._infer(phones, input_lengths, seeds=seeds, decoder_kernels=self.decoder_kernels)
        return {"mel": tf.cast(outputs["mel"], tf.float32),
                "mel_lengths": tf.cast(outputs["mel_lengths"], tf.int32),
                "alignments": tf.cast(outputs["alignments"], tf.float32),
                "stop_probabilities": tf.cast(outputs["stop_probabilities"], tf.float32),
                "hit_max_steps": outputs["hit_max_steps"]}

    def _export_seeds(self, input_lengths):
        return tf.fill(tf.shape(input_lengths), self.seed.read_value())

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="phones"),
                                  tf.TensorSpec([None], tf.int32, name="input_lengths")])
    def serving_default(self, phones, input_lengths):
        """Returns dict(mel [B, T, n_mels], mel_lengths [B], alignments [B, T / r, T_in],
        stop_probabilities [B, T]) with the export seed for every row."""
        outputs = self._run(phones, input_lengths, self._export_seeds(input_lengths))
        del outputs["hit_max_steps"]
        return outputs

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="phones"),
                                  tf.TensorSpec([None], tf.int32, name="input_lengths"),
                                  tf.TensorSpec([None], tf.int32, name="seeds")])
    def serving_seeded(self, phones, input_lengths, seeds):
        """seeds: [B] int32 per-row dropout seeds. Returns serving_default's dict plus hit_max_steps [B]."""
        return self._run(phones, input_lengths, seeds)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="phones"),
                                  tf.TensorSpec([None], tf.int32, name="input_lengths")])
    def synthesize_wav(self, phones, input_lengths):
        """Returns dict(wav [B, T * hop] float32 zero beyond each length, wav_lengths [B] int32 =
        mel_lengths * hop) through the in-graph Griffin-Lim (each row at its own length, as alone), with the
        export seed for every row."""
        outputs = self._run(phones, input_lengths, self._export_seeds(input_lengths))
        wav, wav_lengths = self._vocoder(outputs["mel"], outputs["mel_lengths"])
        return {"wav": wav, "wav_lengths": wav_lengths}

    def signatures(self):
        """The signature dict for tf.saved_model.save."""
        return {"serving_default": self.serving_default, "serving_seeded": self.serving_seeded,
                "synthesize_wav": self.synthesize_wav}
