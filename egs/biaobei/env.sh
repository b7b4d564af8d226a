# Shared settings of the Biaobei recipe, sourced by preprocess.sh, train.sh, synthesis.sh and run.sh.
#   DATA_ROOT  a corpus in the course's layout: $DATA_ROOT/labels/*.lab and $DATA_ROOT/wavs/*.wav (required;
#              the course's testdata/biaobei is such a folder)
#   EXP        experiment folder (default exp/biaobei): features/, train/, synthesized/, saved_model/
#   CONFIG     hparams YAML (default egs/biaobei/gmm_v0.yaml, the course's homework answer;
#              egs/biaobei/gmm_v2b.yaml is our recommendation, egs/biaobei/hparams.yaml the course's own file,
#              egs/biaobei/bahdanau_guided.yaml the content-based baseline with the guided attention loss, which
#              content-based or location-sensitive attention needs to align in a few thousand steps)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
if [ -z "${DATA_ROOT:-}" ]; then
  echo "error: set DATA_ROOT to a folder with labels/ and wavs/ (e.g. the course's testdata/biaobei)" >&2
  exit 2
fi
DATA_ROOT=$(realpath "$DATA_ROOT")
EXP=$(realpath -m "${EXP:-exp/biaobei}")
CONFIG=${CONFIG:-egs/biaobei/gmm_v0.yaml}
bash scripts/setup.sh
py=.venv/bin/python
