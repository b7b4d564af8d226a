#!/usr/bin/env bash
# The course's step 1 (egs/example/preprocess.sh): labels + wavs -> mel features and a train/valid split.
# Usage: DATA_ROOT=path/to/biaobei bash egs/biaobei/preprocess.sh <valid_size>
if [ "$#" != "1" ]; then
  echo "Usage: DATA_ROOT=... bash $0 <valid_size>" >&2
  exit 1
fi
source "$(dirname "$0")/env.sh"
$py preprocess.py --yaml_conf "$CONFIG" --label_dir "$DATA_ROOT/labels" --wav_dir "$DATA_ROOT/wavs" \
    --out_dir "$EXP/features" --valid_size "$1" --n_jobs "$(nproc)"
