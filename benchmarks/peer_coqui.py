"""The peer of benchmarks/peer_speed.py: Coqui TTS 0.28 (PyTorch) Tacotron 2 with Graves (GMM) attention.

Everything Coqui-specific is here, so that peer_speed.py imports PyTorch only to run the peer. Importing this
module needs torch and coqui-tts (`pip install -r requirements-bench.txt`). Coqui 0.28 also refuses to import
without torchaudio and torchcodec although its Tacotron 2 path never calls them: this module appends
benchmarks/peer_stubs (stand-ins whose every attribute raises) to the end of sys.path, so they are found only
when the real packages are not installed, and only in a process that runs the peer.

Run as a script, it is the peer's memory probe of `peer_speed.py --only memory` (a process of its own, without
TensorFlow):

    .venv/bin/python benchmarks/peer_coqui.py --batch_file batch.npz --threads 2 --steps 5 [--precision bfloat16]

It builds the model, runs `--steps` training steps on the batch that peer_speed.py saved and prints one JSON
line: the peak resident memory (VmHWM of /proc/self/status) before the first step and at the end.
"""
import argparse
import collections
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, when run as a script
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_stubs"))
from benchmarks.peak_memory import peak_rss_mb  # noqa: E402  (after the sys.path lines)
import torch  # noqa: E402  (after the sys.path line: Coqui needs torchaudio / torchcodec to import)
from TTS.tts.configs.shared_configs import CharactersConfig  # noqa: E402
from TTS.tts.configs.tacotron2_config import Tacotron2Config  # noqa: E402
from TTS.tts.models.tacotron2 import Tacotron2  # noqa: E402

# Coqui's INFO lines (audio processor set up, decoder stopped) and its warning that the config names no language
# (for a tokenizer we do not use) would land between the figures.
logging.getLogger("TTS").setLevel(logging.ERROR)
GRAVES_HEADS = 5  # K, the mixture components of the attention
NEVER_STOP = 1.0  # a stop threshold no sigmoid exceeds: the stop token cannot end decoding
# Loss terms of Coqui's TacotronLoss beyond the decoder and post-net spectrogram losses and the stop BCE; "plain"
# switches them off (ours trains on those three only, like the course), "coqui" keeps Coqui's defaults.
EXTRA_LOSS_TERMS = ("decoder_diff_spec_alpha", "postnet_diff_spec_alpha", "decoder_ssim_alpha",
                    "postnet_ssim_alpha", "ga_alpha")
LOSSES = ("plain", "coqui")
PRECISIONS = ("float32", "bfloat16")  # of a training step (train_step)

Peer = collections.namedtuple("Peer", ["model", "criterion", "optimizer", "config"])


def set_threads(threads):
    """Intra-op and inter-op threads of PyTorch (call before any PyTorch work)."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def settings():
    """One line: versions, threads, and which of torchaudio / torchcodec are the stand-ins."""
    stubs = [name for name in ("torchaudio", "torchcodec") if "peer_stubs" in importlib.util.find_spec(name).origin]
    return (f"PyTorch {torch.__version__} ({torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} "
            f"inter-op threads), Coqui TTS {importlib.metadata.version('coqui-tts')}"
            + (f", stand-ins for {' and '.join(stubs)} (benchmarks/peer_stubs)" if stubs else ""))


def build_peer(num_chars, outputs_per_step, acoustic_dim, seed, loss="plain"):
    """Coqui's Tacotron 2 with Graves attention, its own criterion (model.get_criterion()) and Adam.

    loss: "plain" (decoder and post-net spectrogram losses and the stop BCE, as ours) or "coqui" (also the
    differential-spectrogram, SSIM and guided-attention terms of Coqui's default config).

    Coqui sizes its embedding from the tokenizer it builds from `config.characters` (its English graphemes
    by default), not from `num_chars`: a vocabulary of `num_chars` symbols with the pad first gives it ours.
    """
    torch.manual_seed(seed)
    characters = CharactersConfig(characters_class="TTS.tts.utils.text.characters.Graphemes", pad="_", eos=None,
                                  bos=None, blank=None, punctuations="",
                                  characters="".join(chr(0x4E00 + index) for index in range(num_chars - 1)))
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
    extra = {name: 0.0 for name in EXTRA_LOSS_TERMS} if loss == "plain" else {}
    config = Tacotron2Config(num_chars=num_chars, characters=characters, r=outputs_per_step,
                             out_channels=acoustic_dim, attention_type="graves", attention_heads=GRAVES_HEADS,
                             **extra)
    model = Tacotron2(config)
    assert model.embedding.num_embeddings == num_chars, model.embedding
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    return Peer(model, model.get_criterion(), optimizer, config)


def describe(peer):
    """One line: size, attention and the loss terms switched on."""
    config = peer.config
    terms = [name for name in ("decoder_loss_alpha", "postnet_loss_alpha", "decoder_diff_spec_alpha",
                               "postnet_diff_spec_alpha", "decoder_ssim_alpha", "postnet_ssim_alpha", "ga_alpha")
             if getattr(config, name) > 0]
    parameters = sum(parameter.numel() for parameter in peer.model.parameters())
    return (f"Coqui Tacotron2 ({parameters / 1e6:.2f} M parameters), GravesAttention K={GRAVES_HEADS}, "
            f"r={config.r}; {type(peer.criterion).__name__} ({', '.join(terms)}, stopnet BCE), "
            f"Adam lr {config.lr}, grad-norm clip {config.grad_clip}")


def peer_batch(phones, input_lengths, mel, mel_lengths, stop_targets, outputs_per_step):
    """Coqui's training batch (the dict of BaseTTS.format_batch) from ours, as torch tensors.

    Args:
        phones: [B, T_in] int phone ids (0 is padding in both models).
        input_lengths: [B] int.
        mel: [B, T_out, n_mels] float32, T_out a multiple of r.
        mel_lengths: [B] int.
        stop_targets: [B, T_out] float32 per frame, 1 from the last real frame on; Coqui's are per decoder step.
    """
    batch_size, frames = stop_targets.shape
    step_stops = stop_targets.reshape(batch_size, frames // outputs_per_step, outputs_per_step).sum(axis=2) > 0
    mel_lengths = torch.from_numpy(np.asarray(mel_lengths, np.int64))
    return {"text_input": torch.from_numpy(np.asarray(phones, np.int64)),
            "text_lengths": torch.from_numpy(np.asarray(input_lengths, np.int64)),
            "mel_input": torch.from_numpy(np.asarray(mel, np.float32)), "mel_lengths": mel_lengths,
            "stop_targets": torch.from_numpy(step_stops.astype(np.float32)),
            "stop_target_lengths": torch.ceil(mel_lengths / outputs_per_step),
            "speaker_ids": None, "d_vectors": None}


def train_step(peer, batch, precision="float32"):
    """One training step as Coqui's trainer does it: forward, loss, backward, grad-norm clipping, Adam.

    precision: "float32", or "bfloat16" for the forward pass and loss under torch.autocast (CPU, bfloat16), as
        Coqui's trainer does with mixed precision (parameters and their gradients stay float32).
    Returns the loss as a float (which waits for the step to finish).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    peer.model.train()
    peer.optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
        _, losses = peer.model.train_step(batch, peer.criterion)
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(peer.model.parameters(), peer.config.grad_clip)
    peer.optimizer.step()
    return losses["loss"].item()


def synthesize(peer, phones, frames):
    """Free-running `inference` forced to decode `frames` frames; returns the frames it produced.

    Coqui's decoder loop ends when sigmoid(stop logit) > decoder.stop_threshold (a fixed 0.5, not a config
    field) or after decoder.max_decoder_steps steps of r frames: the first is switched off, the second set.

    Args:
        phones: [1, T_in] int phone ids (Coqui's inference loop handles one utterance at a time).
    """
    peer.model.eval()
    peer.model.decoder.stop_threshold = NEVER_STOP
    peer.model.decoder.max_decoder_steps = math.ceil(frames / peer.config.r)
    outputs = peer.model.inference(torch.from_numpy(np.asarray(phones, np.int64)))
    return int(outputs["model_outputs"].shape[1])


def main():
    parser = argparse.ArgumentParser(description="Peak memory of the peer's training steps (peer_speed.py).")
    parser.add_argument("--batch_file", required=True, help=".npz written by peer_speed.py")
    parser.add_argument("--threads", type=int, required=True, help="PyTorch intra-op and inter-op threads")
    parser.add_argument("--steps", type=int, required=True, help="training steps to run")
    parser.add_argument("--loss", choices=LOSSES, default="plain", help="the peer's loss terms (build_peer)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="of the steps (train_step)")
    args = parser.parse_args()
    set_threads(args.threads)
    saved = np.load(args.batch_file)
    outputs_per_step = int(saved["outputs_per_step"])
    peer = build_peer(int(saved["num_chars"]), outputs_per_step, saved["mel"].shape[2], int(saved["seed"]),
                      args.loss)
    batch = peer_batch(saved["phones"], saved["input_lengths"], saved["mel"], saved["mel_lengths"],
                       saved["stop_targets"], outputs_per_step)
    before = peak_rss_mb()
    for _ in range(args.steps):
        train_step(peer, batch, args.precision)
    print(json.dumps({"before_steps_mb": before, "peak_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
