"""Synthesis speed: real-time factors of the acoustic model (course size and small preset, batch 1 and
batched) and of the Griffin-Lim vocoder (ours beside the course's librosa loop), in one run.

    .venv/bin/python benchmarks/synth_speed.py --preset both --batch_size 4 --input_length 30 \
        --max_frames_per_phone 8 --outputs_per_step 2 --seconds 4 --iters 60 --repeats 3

RTF = wall-clock seconds spent / seconds of audio produced (frames x hop / sample rate, summed over the
batch); lower is faster, < 1 is faster than real time. Every timing is warm (the tf.function is traced and
run once first) and the fastest of `--repeats` runs is reported.

Acoustic model: `Tacotron.infer` (encoder, free-running decoder, post-net) in the tf.function synthesize.py
runs on a checkpoint (`tacotron.synthesis.infer_function`, decoder kernels made once), on seeded
random phones, every utterance `--input_length` long. The models are untrained, so their stop token means
nothing: by default (`--stop_threshold 0.999999`) it is ignored in effect and every utterance decodes to
its step limit, `--max_frames_per_phone` x phones (about 8 frames per phone is typical of Biaobei); the
frames generated and how many utterances hit the limit are printed. Pass `--stop_threshold 0.5` (the
course's) to let the untrained stop token end decoding wherever it happens to.

Griffin-Lim: tacotron/griffin_lim.py (built from the course hparams, in a tf.function) at batch 1 and at
`--batch_size`, beside the course's librosa loop from benchmarks/griffin_lim_speed.py (per utterance: a
loop's RTF does not depend on the batch), on the mel of a `--seconds` synthetic signal (or `--wav`).
The flags --seconds, --iters, --batch_size, --repeats and --wav are defined by griffin_lim_speed.py (here
--batch_size defaults to 4 and --repeats to 3).
"""
import os
import sys

from absl import app
from absl import flags
import keras
import librosa
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hparams as hparams_lib  # noqa: E402  (after the sys.path line, to run as a script)
from benchmarks import griffin_lim_speed  # noqa: E402  (defines --seconds --iters --batch_size --repeats --wav)
from modules.attention_names import INFERENCE_PRECISIONS  # noqa: E402
from text.phones_mix import NUM_IDS  # noqa: E402
from tacotron.inference import load_model  # noqa: E402
from tacotron import griffin_lim  # noqa: E402
from tacotron.model import create_model  # noqa: E402
from tacotron.griffin_lim import griffin_lim_from_hparams  # noqa: E402
from tacotron.synthesis import infer_function  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "both", list(hparams_lib.PRESETS) + ["both"], "Acoustic model size(s) to time.")
flags.DEFINE_integer("input_length", 30, "Phones per utterance, including the final '~'.")
flags.DEFINE_integer("max_frames_per_phone", 8, "Step limit of free-running decoding, frames per phone.")
flags.DEFINE_float("stop_threshold", 0.999999, "Stop-token threshold (the course's is 0.5; see above).")
flags.DEFINE_integer("outputs_per_step", 2, "r, mel frames per decoder step (the course recipe uses 2).")
flags.DEFINE_enum("attention_type", "gmm", list(hparams_lib.ATTENTION_TYPES), "Attention mechanism.")
flags.DEFINE_string("hparams", "", "Extra hparams overrides applied to both presets.")
flags.DEFINE_integer("seed", 0, "Seed of the phones and of the pre-net dropout.")
flags.DEFINE_enum("precision", "float32", list(INFERENCE_PRECISIONS) + ["both"],
                  "Decoder LSTM and post-net precision (hparam inference_precision); both = each, on the "
                  "same weights, phones and seeds, with the bfloat16 mels' error against the float32 ones.")
flags.DEFINE_string("checkpoint_dir", None, "Time a trained model (a train.py --log_dir; its hparams, with "
                    "this run's stop_threshold and max_frames_per_phone) instead of the untrained presets.")
flags.adopt_module_key_flags(griffin_lim_speed)  # its flags show in --help too


def preset_hparams(preset):
    overrides = (f"attention_type={FLAGS.attention_type},outputs_per_step={FLAGS.outputs_per_step},"
                 f"max_frames_per_phone={FLAGS.max_frames_per_phone},stop_threshold={FLAGS.stop_threshold}")
    if FLAGS.hparams:
        overrides += "," + FLAGS.hparams
    return hparams_lib.load_hparams(overrides=overrides, preset=preset)


def synthetic_phones(batch_size, input_length, seed):
    """[batch_size, input_length] int32 random phone ids, each row ending with "~" (id 1)."""
    phones = np.random.default_rng(seed).integers(2, NUM_IDS, size=(batch_size, input_length))
    phones[:, -1] = 1
    return phones.astype(np.int32)


def time_acoustic(model, hp, batch_size):
    """Returns dict(seconds, frames, audio_seconds, at_limit, outputs) of one warm `infer` call on
    `batch_size` rows (outputs: the last call's numpy dict)."""
    infer = infer_function(model, frozen=True)  # what synthesize.py runs on a restored checkpoint
    phones = tf.constant(synthetic_phones(batch_size, FLAGS.input_length, FLAGS.seed))
    lengths = tf.fill([batch_size], FLAGS.input_length)
    seeds = tf.range(batch_size) + FLAGS.seed
    results = []

    def run():
        results.append({name: value.numpy() for name, value in infer(phones, lengths, seeds).items()})

    run()  # warm-up: trace and first run
    seconds = griffin_lim_speed.best_time(run, FLAGS.repeats)
    frames = int(results[-1]["mel_lengths"].sum())
    return {"seconds": seconds, "frames": frames, "audio_seconds": frames * hp.hop_size / hp.sample_rate,
            "at_limit": int(results[-1]["hit_max_steps"].sum()), "outputs": results[-1]}


def mel_error_line(reduced, exact):
    """Error of the reduced-precision mels against the float32 ones (same weights, phones and seeds), over the
    frames both produced, in normalised mel units (the features span [-4, 4])."""
    errors, lengths_differ = [], 0
    for row in range(len(exact["mel_lengths"])):
        frames = min(exact["mel_lengths"][row], reduced["mel_lengths"][row])
        lengths_differ += int(exact["mel_lengths"][row] != reduced["mel_lengths"][row])
        errors.append(np.abs(reduced["mel"][row, :frames] - exact["mel"][row, :frames]))
    errors = np.concatenate([error.ravel() for error in errors])
    return (f"mean abs error {errors.mean():.3g}, 99th percentile {np.percentile(errors, 99):.3g}, max "
            f"{errors.max():.3g} (normalised mel units), {lengths_differ}/{len(exact['mel_lengths'])} lengths differ")


def report_acoustic(preset):
    """Times `preset` (or the --checkpoint_dir model) at batch 1 and --batch_size in each --precision;
    returns {(precision, batch_size): RTF}."""
    if FLAGS.checkpoint_dir:
        model, hp, checkpoint = load_model(FLAGS.checkpoint_dir)
        hp = hp.replace(stop_threshold=FLAGS.stop_threshold, max_frames_per_phone=FLAGS.max_frames_per_phone)
        model.decoder.stop_threshold = hp.stop_threshold
        model.decoder.max_frames_per_phone = hp.max_frames_per_phone
        name = f"trained ({checkpoint})"
    else:
        hp = preset_hparams(preset)
        keras.utils.set_random_seed(hp.random_seed)
        model = create_model(hp)
        name = preset
    precisions = list(INFERENCE_PRECISIONS) if FLAGS.precision == "both" else [FLAGS.precision]
    rtfs, outputs = {}, {}
    for precision in precisions:
        model.decoder.inference_precision = precision  # read when infer is traced (a new tf.function below)
        for batch_size in sorted({1, FLAGS.batch_size}):
            result = time_acoustic(model, hp, batch_size)
            rtfs[precision, batch_size] = result["seconds"] / result["audio_seconds"]
            outputs[precision, batch_size] = result["outputs"]
            print(f"{name} acoustic model ({model.count_params() / 1e6:.2f} M parameters) {precision} batch "
                  f"{batch_size}: {result['frames']} frames ({result['audio_seconds']:.2f} s of audio, "
                  f"{result['at_limit']}/{batch_size} at the step limit) in {result['seconds']:.3f} s  "
                  f"RTF {rtfs[precision, batch_size]:.4g}")
        if FLAGS.batch_size > 1:
            throughput = rtfs[precision, 1] / rtfs[precision, FLAGS.batch_size]
            print(f"{name} {precision}: batch {FLAGS.batch_size} throughput = {throughput:.2f}x batch 1's")
    if len(precisions) == 2:
        for batch_size in sorted({1, FLAGS.batch_size}):
            print(f"{name} bfloat16 vs float32 at batch {batch_size}: speed-up "
                  f"{rtfs['float32', batch_size] / rtfs['bfloat16', batch_size]:.2f}x; "
                  + mel_error_line(outputs["bfloat16", batch_size], outputs["float32", batch_size]))
    return rtfs


def report_griffin_lim():
    """Prints the RTFs of ours (batch 1 and --batch_size) and librosa's; returns ours by batch size."""
    hp = hparams_lib.load_hparams(preset="course").replace(griffin_lim_iters=FLAGS.iters)
    inverter = griffin_lim_from_hparams(hp)
    synthesize = tf.function(lambda mel: inverter(mel)[0],
                             input_signature=[tf.TensorSpec([None, None, hp.acoustic_dim], tf.float32)])
    basis = librosa.filters.mel(sr=hp.sample_rate, n_fft=hp.n_fft, n_mels=hp.acoustic_dim, fmin=hp.fmin,
                                fmax=hp.fmax)
    inverse_basis = np.linalg.pinv(basis)
    mel = griffin_lim_speed.course_mel(griffin_lim_speed.make_signal(FLAGS.seconds, FLAGS.wav), basis)
    seconds_per_utterance = mel.shape[0] * hp.hop_size / hp.sample_rate
    print(f"Griffin-Lim: {mel.shape[0]} frames ({seconds_per_utterance:.2f} s of audio) per utterance, "
          f"{FLAGS.iters} iterations")

    angles = griffin_lim.random_phase(mel.shape[0], hp.n_fft // 2 + 1, inverter.seed).numpy().T
    results = []
    librosa_time = griffin_lim_speed.best_time(
        lambda: results.append(griffin_lim_speed.course_mel_to_wav(mel, inverse_basis, angles, FLAGS.iters)),
        FLAGS.repeats)
    librosa_wav, magnitude = results[-1]
    librosa_rtf = librosa_time / seconds_per_utterance

    ours = {}
    for batch_size in sorted({1, FLAGS.batch_size}):
        batch = np.repeat(mel[np.newaxis], batch_size, axis=0)
        wav = synthesize(batch).numpy()  # warm-up: trace and first run
        seconds = griffin_lim_speed.best_time(lambda: synthesize(batch).numpy(), FLAGS.repeats)
        ours[batch_size] = seconds / (batch_size * seconds_per_utterance)
        print(f"Griffin-Lim ours (tf.function, warm) batch {batch_size}: "
              f"{batch_size * seconds_per_utterance:.2f} s of audio in {seconds:.3f} s  RTF {ours[batch_size]:.4g}  "
              f"spectral convergence {griffin_lim_speed.spectral_convergence(magnitude, wav[0]):.4f}")
    print(f"Griffin-Lim librosa loop (course) per utterance: {seconds_per_utterance:.2f} s of audio in "
          f"{librosa_time:.3f} s  RTF {librosa_rtf:.4g}  "
          f"spectral convergence {griffin_lim_speed.spectral_convergence(magnitude, librosa_wav):.4f}")
    print("speed-up of ours over the librosa loop: "
          + ", ".join(f"{librosa_rtf / rtf:.2f}x at batch {batch_size}" for batch_size, rtf in ours.items()))
    return ours


def main(argv):
    del argv
    if FLAGS.batch_size < 1 or FLAGS.repeats < 1 or FLAGS.input_length < 1:
        raise app.UsageError("--batch_size, --repeats and --input_length must be at least 1")
    presets = list(hparams_lib.PRESETS) if FLAGS.preset == "both" else [FLAGS.preset]
    if FLAGS.checkpoint_dir:
        presets = ["trained"]
    print(f"acoustic model: {FLAGS.input_length} phones per utterance, step limit "
          f"{FLAGS.max_frames_per_phone} frames per phone, stop threshold {FLAGS.stop_threshold}, "
          + ("the trained model's own r and attention; " if FLAGS.checkpoint_dir else
             f"r={FLAGS.outputs_per_step}, {FLAGS.attention_type} attention, untrained weights; ")
          + f"fastest of {FLAGS.repeats} warm runs; {os.cpu_count()} CPUs, TF devices: "
          f"{[device.device_type for device in tf.config.list_logical_devices()]}")
    acoustic = {preset: report_acoustic(preset) for preset in presets}
    vocoder = report_griffin_lim()
    for preset, rtfs in acoustic.items():
        print(f"{preset} acoustic model + our Griffin-Lim (sum of the RTFs above): "
              + ", ".join(f"RTF {rtf + vocoder[batch_size]:.4g} at batch {batch_size} ({precision})"
                          for (precision, batch_size), rtf in rtfs.items()))


if __name__ == "__main__":
    FLAGS.set_default("batch_size", 4)  # griffin_lim_speed's default is 1; batched synthesis needs more
    FLAGS.set_default("repeats", 3)
    app.run(main)
