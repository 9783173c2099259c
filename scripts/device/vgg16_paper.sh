#!/usr/bin/env bash
# Issue 14 on the lent GPU machine, in one call of at most 9 minutes: the GPU tracking benchmark, then as much of
# the VGG-16 paper protocol (full width, CIFAR-10, 50 epochs, 5 seeds, every step on 100 training and 100 fresh
# test samples) as fits, through ipkit.experiment (scripts/device/vgg16_paper.py). Everything to commit is left in
# $OUT: tracking.json, vgg16_status.json, vgg16_log.txt and vgg16_seed-S[.partial].tar.gz.NN (see README.md here).
#
# Once, on this machine (CIFAR-10 as an 18 MiB pack; .carry/ is git-ignored):
#   .venv/bin/python scripts/device/pack_cifar10.py
#   .venv/bin/python scripts/device/vgg16_paper.py --preflight          # the call's size must be under 64 MiB
# The device tool's call:
#   run(command="bash scripts/device/vgg16_paper.sh --source-commit <git rev-parse HEAD, run here>",
#       carry=[".carry"], timeout_s=590)
# A second call while the machine is still warm (30 s) goes on from the checkpoints in /tmp/ipkit-vgg16: name the
# seeds already brought back, e.g. "VGG16_BENCHMARK=0 VGG16_BUDGET_S=200 bash scripts/device/vgg16_paper.sh
# --skip 0,1" (timeout_s = VGG16_BUDGET_S + 60). Any other argument goes to vgg16_paper.py.
#
# Environment: VGG16_BUDGET_S (default 530: seconds for the whole script), VGG16_BENCHMARK (1; 0 skips it),
# VGG16_WORK (/tmp/ipkit-vgg16: checkpoints, finished seeds, logs), PYTHON (python3, the one with CUDA torch there).
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the folder for the results}"
budget=${VGG16_BUDGET_S:-530}
py=${PYTHON:-python3}
work=${VGG16_WORK:-/tmp/ipkit-vgg16}
start=$SECONDS
log=$OUT/vgg16_log.txt
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{
    echo "== $(date -u +%FT%TZ) vgg16_paper.sh $*  (budget ${budget} s)"
    "$py" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda',
torch.version.cuda, '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
} 2>&1 | tee -a "$log"

if [[ ${VGG16_BENCHMARK:-1} == 1 ]]; then
    echo "== tracking benchmark (cuda)" | tee -a "$log"
    timeout -k 5 150 "$py" benchmarks/tracking.py --device cuda --out "$OUT/tracking.json" 2>&1 | tee -a "$log"
fi

left=$(( budget - (SECONDS - start) ))
echo "== VGG-16 protocol, $left s left" | tee -a "$log"
timeout -k 10 "$left" "$py" scripts/device/vgg16_paper.py --out "$OUT" --work "$work" --budget-s $(( left - 15 )) \
    "$@" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
for f in "$work"/logs/*.log; do
    [[ -f $f ]] && { echo "== last lines of $f"; tail -n 40 "$f"; } >> "$log"
done
echo "== done in $(( SECONDS - start )) s, exit code $rc" | tee -a "$log"
exit "$rc"
