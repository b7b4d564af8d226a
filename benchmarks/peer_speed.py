"""Our Tacotron against its strongest peer, Coqui TTS 0.28 (PyTorch) Tacotron 2 with Graves (GMM) attention,
K = 5, on the same shapes in the same run, interleaved (ours, peer, ours, peer, ... for --rounds rounds).

    .venv/bin/python benchmarks/peer_speed.py --rounds 3 --warmup 2 --steps 3 --batch_size 16 \
        --input_length 40 --output_frames 400 --outputs_per_step 2 --threads <CPUs> --only all

(the defaults). Ours is the course-size model (`--preset course`) with GMM attention, our default version V2b
(as Coqui's GravesAttention: softmax weights, softplus steps and widths, biased initial step and width; Coqui
weighs each phone by a difference of logistic CDFs, we by Gaussian densities), r = 2.
The peer (benchmarks/peer_coqui.py) is Coqui's Tacotron2 with attention_type "graves", K = 5, the same r, the
loss its model's get_criterion() returns (TacotronLoss with Coqui's default terms) and Adam. Both use --threads
intra-op and inter-op threads (tf.config.threading; torch.set_num_threads / set_num_interop_threads). Both
are untrained (seeded): speed does not depend on the weights. Printed first: versions and threads.

- train: one step = forward, loss, gradients, clipping, Adam update (ours: tacotron/trainer.py's tf.function;
  the peer: Coqui's model.train_step + backward + clip_grad_norm_ + step, as Coqui's trainer does), on the
  seeded synthetic batch of benchmarks/train_speed.py (every utterance --input_length phones, --output_frames
  frames). --warmup untimed steps each, then per round --steps timed steps each; a round's figure is frames/s
  = batch_size x output_frames / the median seconds of its steps. --train_precision bfloat16 compares mixed
  precision: ours under Keras' mixed_bfloat16 policy (the LSTM gates and states, the GMM parameters and
  alignments and the losses stay float32), the peer's forward pass and loss under torch.autocast("cpu",
  torch.bfloat16); float32 variables.
- synth: batch 1, the batch's first utterance, free-running to a fixed length (--output_frames rounded up to a
  whole number of frames per phone): ours `model.infer` in a tf.function with the step limit at that length
  and stop threshold 0.999999 (as synth_speed.py: an untrained stop token must not end decoding); the peer's
  `inference` with its decoder's stop threshold at 1.0 (never exceeded) and max_decoder_steps = frames / r.
  One warm-up call each; RTF = seconds / (frames produced x hop 200 / 16 kHz), lower is faster.
- memory: each side in a process of its own (ours without PyTorch, the peer without TensorFlow) builds its
  model and runs --warmup + --steps training steps; it reports its own peak resident memory, VmHWM of
  /proc/self/status (Linux), before the first step and at the end (framework, model and training together).
  Not getrusage's ru_maxrss: Linux hands a child the parent's peak (fork and exec keep it), which here
  includes both models.
The ratio printed is ours / peer of the medians over the rounds. --hparams and --seed are train_speed.py's
flags (the overrides apply to ours only); its --preset, --attention_type, --jit_compile and --mixed_precision
are fixed here.

Run it on an otherwise idle machine: on busy cores PyTorch's OpenMP threads (which spin while they wait) lose
far more than TensorFlow's. On 2 cores busy with another job, at batch 2 x 8 phones -> 40 frames, the peer's
training step took 1.3 s with --threads 1 and 13 s with --threads 2; ours 0.7 s and 1.4 s.

Coqui imports torchaudio and torchcodec at start-up but its Tacotron 2 path never calls them: when they are
missing, peer_coqui.py finds stand-ins in benchmarks/peer_stubs (for the peer only). Without torch or
coqui-tts this script prints how to install them (requirements-bench.txt) and exits with code 2.
"""
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hparams as hparams_lib  # noqa: E402  (after the sys.path line, to run as a script)
from benchmarks import train_speed  # noqa: E402  (defines --batch_size --input_length --output_frames ...)
from benchmarks.peak_memory import peak_rss_mb  # noqa: E402
from tacotron.model import create_model  # noqa: E402
from tacotron.synthesis import infer_function  # noqa: E402
from tacotron.trainer import build_trainer  # noqa: E402
from tacotron.trainer import set_mixed_precision  # noqa: E402
from text.phones_mix import NUM_IDS  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 3, "Interleaved rounds (ours, peer) of every measurement.")
flags.DEFINE_integer("threads", os.cpu_count(), "CPU threads of both frameworks (intra-op and inter-op).")
flags.DEFINE_enum("only", "all", ["train", "synth", "memory", "all"], "What to measure.")
flags.DEFINE_bool("memory_child", False, "Internal: be our memory probe (see --only memory) and print JSON.")
flags.DEFINE_enum("peer_loss", "plain", ["plain", "coqui"],
                  "The peer's loss: plain = decoder and post-net spectrogram losses + stop BCE (as ours); coqui = "
                  "also Coqui's default differential-spectrogram, SSIM and guided-attention terms.")
flags.DEFINE_enum("train_precision", "float32", ["float32", "bfloat16"],
                  "Precision of training (and of the memory probes): bfloat16 trains ours under Keras' mixed_bfloat16 "
                  "policy and the peer under torch.autocast(\"cpu\", torch.bfloat16); variables stay float32 on both "
                  "sides. Synthesis is float32 either way.")
flags.adopt_module_key_flags(train_speed)
UNUSED_FLAGS = ("preset", "attention_type", "jit_compile", "mixed_precision")  # train_speed.py's, fixed here
CHILD_FLAGS = ("batch_size", "input_length", "output_frames", "outputs_per_step", "warmup", "steps", "threads",
               "hparams", "seed", "train_precision")
MIXED_PRECISION = {"float32": "none", "bfloat16": "mixed_bfloat16"}  # --train_precision -> ours (train.py's flag)
STOP_THRESHOLD = 0.999999  # ours (must be < 1): an untrained stop token stays below it (synth_speed.py)
INSTALL_HINT = ("peer_speed.py: the peer needs PyTorch and Coqui TTS (missing: {missing}); install them with: "
                ".venv/bin/pip install -r requirements-bench.txt "
                "--extra-index-url https://download.pytorch.org/whl/cpu")


TRITON_HINT = ("peer_speed.py: triton is installed but no GPU is visible; Coqui's optimizer imports it, and here that "
               "import crashes the process (it comes with a CUDA build of torch, e.g. from requirements-bench.txt "
               "without the CPU index). Remove it: .venv/bin/pip uninstall triton")


def load_peer():
    """benchmarks/peer_coqui.py (imports torch and Coqui TTS), or exit 2 with a one-line hint: the install hint,
    or the triton hint when triton is installed without a GPU."""
    if importlib.util.find_spec("triton") is not None and not tf.config.list_physical_devices("GPU"):
        print(TRITON_HINT, file=sys.stderr)
        sys.exit(2)
    try:
        from benchmarks import peer_coqui  # pylint: disable=import-outside-toplevel  (optional dependency)
    except ImportError as error:
        print(INSTALL_HINT.format(missing=error.name or " ".join(str(error).split())), file=sys.stderr)
        sys.exit(2)
    return peer_coqui


def our_hparams(**changes):
    overrides = f"attention_type=gmm,outputs_per_step={FLAGS.outputs_per_step}"
    if FLAGS.hparams:
        overrides += "," + FLAGS.hparams
    return hparams_lib.load_hparams(overrides=overrides, preset="course").replace(**changes)


def build_our_trainer(hp):
    """Our trainer at --train_precision. Sets Keras' global policy to it (the layers take their dtypes from it
    when built); the caller restores "float32" when done."""
    mixed_precision = MIXED_PRECISION[FLAGS.train_precision]
    set_mixed_precision(mixed_precision)
    keras.utils.set_random_seed(hp.random_seed)
    return build_trainer(hp, mixed_precision)


def numpy_batch(batch):
    """train_speed.synthetic_batch's dict as numpy arrays, without utt_id."""
    return {name: value.numpy() for name, value in batch.items() if name != "utt_id"}


def timed(function):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def interleaved(label, measures, unit):
    """Calls measures[name]() -> (figure, detail) for each side in turn, --rounds times; prints every figure.

    Returns {name: [figure of each round]}.
    """
    figures = {name: [] for name in measures}
    for round_index in range(1, FLAGS.rounds + 1):
        for name, measure in measures.items():
            figure, detail = measure()
            figures[name].append(figure)
            print(f"{label} round {round_index} {name}: {figure:.4g} {unit} ({detail})", flush=True)
    return figures


def print_ratio(label, ours, peer, higher_is_faster):
    ratio = ours / peer
    faster = ratio if higher_is_faster else 1 / ratio
    print(f"{label}: ours {ours:.4g}, peer {peer:.4g}, ours / peer {ratio:.4g}x "
          f"({'higher' if higher_is_faster else 'lower'} is faster: ours {faster:.3g}x the peer's speed)")


def compare_training(peer_coqui, batch):
    """Interleaved training rounds; prints frames/s per round and the ratio of the medians.

    Args:
        peer_coqui: the module benchmarks/peer_coqui.py.
        batch: train_speed.synthetic_batch's dict: phones [B, T_in] int32, input_lengths [B], mel [B, T_out, 80]
            float32, mel_lengths [B], stop_targets [B, T_out] float32, utt_id [B] string.
    """
    hp = our_hparams()
    trainer = build_our_trainer(hp)
    peer = peer_coqui.build_peer(NUM_IDS, FLAGS.outputs_per_step, hp.acoustic_dim, FLAGS.seed,
                                 FLAGS.peer_loss)
    arrays = numpy_batch(batch)
    peer_input = peer_coqui.peer_batch(arrays["phones"], arrays["input_lengths"], arrays["mel"],
                                       arrays["mel_lengths"], arrays["stop_targets"], FLAGS.outputs_per_step)
    steps = {"ours": lambda: float(trainer.train_step(batch)["loss"]),  # float() waits for the step
             "peer": lambda: peer_coqui.train_step(peer, peer_input, FLAGS.train_precision)}
    print(f"train ({FLAGS.train_precision}): ours = course preset{' + --hparams' if FLAGS.hparams else ''} "
          f"({trainer.model.count_params() / 1e6:.2f} M parameters, Keras policy {trainer.model.dtype_policy.name}); "
          f"peer = {peer_coqui.describe(peer)}")
    for name, step in steps.items():
        first, _ = timed(step)
        for _ in range(FLAGS.warmup - 1):
            step()
        print(f"train warm-up {name}: first step {first:.2f} s, {FLAGS.warmup} untimed steps", flush=True)
    frames = int(arrays["mel_lengths"].sum())

    def measure(step):
        seconds = statistics.median(timed(step)[0] for _ in range(FLAGS.steps))
        return frames / seconds, f"median {seconds:.3f} s/step of {FLAGS.steps}"

    figures = interleaved("train", {name: (lambda step=step: measure(step)) for name, step in steps.items()},
                          "frames/s")
    set_mixed_precision("none")  # synthesis builds its model in float32
    print_ratio(f"training frames/s ({FLAGS.train_precision}), median of {FLAGS.rounds} rounds",
                statistics.median(figures["ours"]), statistics.median(figures["peer"]), higher_is_faster=True)


def compare_synthesis(peer_coqui, batch):
    """Interleaved batch-1 synthesis of batch["phones"][0] to a fixed length; prints RTFs and their ratio."""
    frames_per_phone = math.ceil(FLAGS.output_frames / FLAGS.input_length)
    limit = -(-frames_per_phone * FLAGS.input_length // FLAGS.outputs_per_step) * FLAGS.outputs_per_step
    hp = our_hparams(max_frames_per_phone=frames_per_phone, stop_threshold=STOP_THRESHOLD)
    keras.utils.set_random_seed(hp.random_seed)
    model = create_model(hp)
    infer = infer_function(model, frozen=True)  # what synthesize.py runs on a restored checkpoint
    phones = batch["phones"][:1]  # [1, T_in]
    peer_phones = phones.numpy()
    lengths, seeds = tf.constant([FLAGS.input_length]), tf.constant([FLAGS.seed])
    peer = peer_coqui.build_peer(NUM_IDS, FLAGS.outputs_per_step, hp.acoustic_dim, FLAGS.seed,
                                 FLAGS.peer_loss)
    runs = {"ours": lambda: int(infer(phones, lengths, seeds)["mel_lengths"][0]),
            "peer": lambda: peer_coqui.synthesize(peer, peer_phones, limit)}
    print(f"synth: batch 1, {FLAGS.input_length} phones decoded to {limit} frames "
          f"({limit * hp.hop_size / hp.sample_rate:.2f} s of audio at hop {hp.hop_size}, {hp.sample_rate} Hz); "
          f"ours ({model.count_params() / 1e6:.2f} M parameters) stop threshold {STOP_THRESHOLD}, peer 1.0")
    for name, run in runs.items():
        print(f"synth warm-up {name}: {timed(run)[0]:.2f} s", flush=True)

    def measure(run):
        seconds, produced = timed(run)
        return seconds / (produced * hp.hop_size / hp.sample_rate), f"{produced} frames in {seconds:.3f} s"

    figures = interleaved("synth", {name: (lambda run=run: measure(run)) for name, run in runs.items()}, "RTF")
    print_ratio(f"synthesis RTF at batch 1, median of {FLAGS.rounds} rounds", statistics.median(figures["ours"]),
                statistics.median(figures["peer"]), higher_is_faster=False)


def memory_child():
    """Our memory probe: build, --warmup + --steps training steps, one JSON line of peak memory."""
    hp = our_hparams()
    trainer = build_our_trainer(hp)
    batch = train_speed.synthetic_batch(FLAGS.batch_size, FLAGS.input_length, FLAGS.output_frames,
                                        FLAGS.outputs_per_step, hp.acoustic_dim, FLAGS.seed)
    before = peak_rss_mb()
    for _ in range(FLAGS.warmup + FLAGS.steps):
        float(trainer.train_step(batch)["loss"])
    print(json.dumps({"before_steps_mb": before, "peak_mb": peak_rss_mb()}))


def run_probe(command):
    """Runs a memory probe; returns its JSON line as a dict."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_memory(peer_coqui, batch):
    """Runs each side's memory probe (a process of its own) on `batch`; prints both peaks and their ratio."""
    steps = FLAGS.warmup + FLAGS.steps
    with tempfile.TemporaryDirectory() as folder:
        batch_file = os.path.join(folder, "batch.npz")
        np.savez(batch_file, num_chars=NUM_IDS, outputs_per_step=FLAGS.outputs_per_step, seed=FLAGS.seed,
                 **numpy_batch(batch))
        ours = run_probe([sys.executable, os.path.abspath(__file__), "--memory_child"]
                         + [f"--{name}={FLAGS[name].value}" for name in CHILD_FLAGS])
        peer = run_probe([sys.executable, os.path.abspath(peer_coqui.__file__), "--batch_file", batch_file,
                          "--threads", str(FLAGS.threads), "--steps", str(steps),
                          "--loss", FLAGS.peer_loss, "--precision", FLAGS.train_precision])
    for name, probe in (("ours", ours), ("peer", peer)):
        print(f"memory {name}: peak {probe['peak_mb']:.0f} MB after {steps} {FLAGS.train_precision} training steps "
              f"({probe['before_steps_mb']:.0f} MB before the first; own process, VmHWM)")
    ratio = ours["peak_mb"] / peer["peak_mb"]
    print(f"peak resident memory of training: ours {ours['peak_mb']:.0f} MB, peer {peer['peak_mb']:.0f} MB, "
          f"ours / peer {ratio:.4g}x (lower is leaner)")


def check_flags():
    for name in UNUSED_FLAGS:
        if FLAGS[name].present:
            raise app.UsageError(f"--{name} is train_speed.py's and is fixed here (see the docstring)")
    if min(FLAGS.rounds, FLAGS.steps, FLAGS.warmup, FLAGS.threads, FLAGS.batch_size, FLAGS.output_frames) < 1:
        raise app.UsageError("--rounds, --steps, --warmup, --threads, --batch_size, --output_frames must be >= 1")
    if FLAGS.input_length < 2:
        raise app.UsageError("--input_length must be at least 2 (the last phone is '~')")


def main(argv):
    del argv
    check_flags()
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    if FLAGS.memory_child:
        memory_child()
        return
    peer_coqui = load_peer()
    peer_coqui.set_threads(FLAGS.threads)
    print(f"settings: TensorFlow {tf.__version__}, Keras {keras.__version__} "
          f"({tf.config.threading.get_intra_op_parallelism_threads()} intra-op, "
          f"{tf.config.threading.get_inter_op_parallelism_threads()} inter-op threads); {peer_coqui.settings()}; "
          f"{os.cpu_count()} CPUs, TF devices {[device.device_type for device in tf.config.list_logical_devices()]}")
    hp = our_hparams()
    print(f"shapes: batch {FLAGS.batch_size} x {FLAGS.input_length} phones -> {FLAGS.output_frames} frames, "
          f"r={FLAGS.outputs_per_step}, {hp.acoustic_dim} mels; ours {hp.attention_type} attention "
          f"{hp.gmm_version} K={hp.gmm_num_mixtures}; {FLAGS.warmup} warm-up steps, {FLAGS.rounds} rounds of "
          f"{FLAGS.steps} timed steps per side, interleaved", flush=True)
    batch = train_speed.synthetic_batch(FLAGS.batch_size, FLAGS.input_length, FLAGS.output_frames,
                                        FLAGS.outputs_per_step, hp.acoustic_dim, FLAGS.seed)
    if FLAGS.only in ("train", "all"):
        compare_training(peer_coqui, batch)
    if FLAGS.only in ("synth", "all"):
        compare_synthesis(peer_coqui, batch)
    if FLAGS.only in ("memory", "all"):
        compare_memory(peer_coqui, batch)


if __name__ == "__main__":
    FLAGS.set_default("batch_size", 16)
    FLAGS.set_default("output_frames", 400)
    FLAGS.set_default("steps", 3)
    app.run(main)
