"""Benchmark scripts (run them as files: .venv/bin/python benchmarks/<script>.py). A regular package, so that
a site-packages module called "benchmarks" (pysbd, a dependency of Coqui TTS, installs one) cannot shadow it."""
