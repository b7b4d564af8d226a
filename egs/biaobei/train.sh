#!/usr/bin/env bash
# The course's step 2 (egs/example/train.sh): trains with the course's command-line overrides
# batch_size=64, outputs_per_step=2. Extra arguments go to train.py, e.g. --max_steps 10000.
# Usage: DATA_ROOT=path/to/biaobei bash egs/biaobei/train.sh [train.py flags...]
source "$(dirname "$0")/env.sh"
$py train.py --yaml_conf "$CONFIG" --data_dir "$EXP/features" --log_dir "$EXP/train" \
    --hparams "batch_size=64,outputs_per_step=2${HPARAMS:+,$HPARAMS}" "$@"
