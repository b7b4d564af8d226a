"""Shared pytest setup: quiet TensorFlow, seeded randomness, project root on sys.path."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

BIAOBEI_SAMPLE = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "biaobei_sample"))
