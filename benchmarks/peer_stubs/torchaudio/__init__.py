"""Stand-in for torchaudio: benchmarks/peer_coqui.py appends this folder to the end of sys.path (so an installed
torchaudio wins), for the Coqui TTS peer only.

Coqui TTS 0.28 refuses to import without torchaudio although its Tacotron 2 path (model, loss, inference on
tensors) never calls it. Any attribute of this stand-in raises AttributeError naming it, so a use cannot go
unnoticed.
"""


def __getattr__(name):
    raise AttributeError(f"torchaudio.{name}: this is the benchmark's stand-in (benchmarks/peer_stubs), not torchaudio")
