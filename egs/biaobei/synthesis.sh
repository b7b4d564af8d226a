#!/usr/bin/env bash
# The course's step 3 (egs/example/synthesis.sh): synthesises every label of $DATA_ROOT/labels with the latest
# checkpoint; mels, alignments and Griffin-Lim wavs (the course's infer.py --use_gl, on by default).
# Usage: DATA_ROOT=path/to/biaobei bash egs/biaobei/synthesis.sh [synthesize.py flags...]
source "$(dirname "$0")/env.sh"
$py synthesize.py --checkpoint_dir "$EXP/train" --label_dir "$DATA_ROOT/labels" \
    --output_dir "$EXP/synthesized" --wav --batch_size 8 "$@"
