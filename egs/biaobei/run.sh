#!/usr/bin/env bash
# The whole Biaobei recipe: the course's three steps (preprocess.sh, train.sh, synthesis.sh), then export.
# Usage: DATA_ROOT=path/to/biaobei [CONFIG=egs/biaobei/gmm_v2b.yaml] bash egs/biaobei/run.sh [train.py flags...]
#   STAGE=N starts at stage N (1 preprocess, 2 train, 3 synthesize, 4 export); VALID_SIZE (default 0.02).
set -euo pipefail
here=$(dirname "$0")
stage=${STAGE:-1}
[ "$stage" -le 1 ] && bash "$here/preprocess.sh" "${VALID_SIZE:-0.02}"
[ "$stage" -le 2 ] && bash "$here/train.sh" "$@"
[ "$stage" -le 3 ] && bash "$here/synthesis.sh"
source "$here/env.sh"
if [ "$stage" -le 4 ]; then
  $py export.py --checkpoint_dir "$EXP/train" --output_dir "$EXP/saved_model"
fi
echo "done: features $EXP/features, model $EXP/train, audio $EXP/synthesized, SavedModel $EXP/saved_model"
