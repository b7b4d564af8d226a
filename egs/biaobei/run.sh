#!/usr/bin/env bash
# The course recipe on Biaobei (CSMSC): preprocess -> train -> synthesize the validation set -> export.
# Usage: bash egs/biaobei/run.sh LABEL_DIR WAV_DIR EXP_DIR [extra train.py flags...]
#   STAGE=N starts at stage N (1 preprocess, 2 train, 3 synthesize, 4 export).
# Example with the course corpus: bash egs/biaobei/run.sh BZNSYP/labels BZNSYP/Wave exp/biaobei
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash egs/biaobei/run.sh LABEL_DIR WAV_DIR EXP_DIR [train.py flags...]" >&2
  exit 2
fi
label_dir=$(realpath "$1"); wav_dir=$(realpath "$2"); exp=$(realpath -m "$3"); shift 3
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
py=.venv/bin/python
config=egs/biaobei/hparams.yaml
stage=${STAGE:-1}
if [ "$stage" -le 1 ]; then
  $py preprocess.py --label_dir "$label_dir" --wav_dir "$wav_dir" --out_dir "$exp/features" \
      --config "$config" --valid_size 0.02 --n_jobs "$(nproc)"
fi
if [ "$stage" -le 2 ]; then
  $py train.py --data_dir "$exp/features" --log_dir "$exp/train" --config "$config" "$@"
fi
valid_labels=$(sed "s|^|$label_dir/|; s|$|.lab|" "$exp/features/valid.txt" | paste -sd, -)
if [ "$stage" -le 3 ]; then
  $py synthesize.py --checkpoint_dir "$exp/train" --labels "$valid_labels" --output_dir "$exp/synthesis" \
      --batch_size 8
fi
if [ "$stage" -le 4 ]; then
  $py export.py --checkpoint_dir "$exp/train" --output_dir "$exp/saved_model"
fi
echo "done: features $exp/features, model $exp/train, audio $exp/synthesis, SavedModel $exp/saved_model"
