#!/usr/bin/env bash
# Runs every notebook with papermill into results/: executed notebooks, CSV tables, PNG figures and run.json.
#
#   ./run_all.sh                      quick profile (default): all notebooks on a laptop CPU
#   ./run_all.sh paper                the paper's settings (VGG-16 needs a GPU), into results/paper/
#   ./run_all.sh reduced              the paper's VGG-16 and robustness schedules reduced for a CPU (hours, not
#                                     days), into results/paper/reduced/
#   ./run_all.sh quick --only 02      only the notebooks whose name contains "02"
#   ./run_all.sh quick -p epochs 1    extra papermill parameters, passed to every notebook
#   ./run_all.sh quick -y "seeds: [0, 1, 2]"   the same as YAML (lists, dicts)
#   ./run_all.sh quick --threads 4    CPU threads per notebook (default $OMP_NUM_THREADS, else 2): sets
#                                     OMP_NUM_THREADS/MKL_NUM_THREADS and passes -p threads N to every notebook
#
# Each notebook runs into a temporary folder that replaces results/<name>/ only when it succeeds, so a
# failure leaves the earlier complete results in place; the others still run; the exit code says if any failed.
# Ctrl-C (SIGINT) or SIGTERM stops the whole script (exit 130 or 143), also leaving earlier results in place.
set -uo pipefail
cd "$(dirname "$0")"

profile=quick
if [[ $# -gt 0 && $1 != -* ]]; then profile=$1; shift; fi
only=""
extra=()
threads=${OMP_NUM_THREADS:-2}
while [[ $# -gt 0 ]]; do
    case $1 in
        --only) only=$2; shift 2 ;;
        --threads) threads=${2-}; shift $(( $# > 1 ? 2 : 1 )) ;;
        -p) extra+=(-p "$2" "$3"); shift 3 ;;
        -y) extra+=(-y "$2"); shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see ./run_all.sh --help)" >&2; exit 2 ;;
    esac
done
if ! [[ $threads =~ ^[1-9][0-9]*$ ]]; then
    echo "threads must be a positive integer (--threads N, or OMP_NUM_THREADS), got '$threads'" >&2; exit 2
fi
# The thread count changes the 7th digit of the estimates: it is set for every notebook and recorded by it.
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

# job = notebook[:tag]; a tag names a variant and a parameter file notebooks/profiles/<profile>/<notebook>[-tag].yaml
case $profile in
    quick) jobs=(01_mlp_mnist 02_cnn_mnist 03_vgg16_cifar10 04_kernel_comparison 05_early_stopping 06_robustness)
           out=results ;;
    paper) jobs=(01_mlp_mnist:tanh 01_mlp_mnist:relu 02_cnn_mnist:relu 02_cnn_mnist:tanh 02_cnn_mnist:wickstrom2023
                 03_vgg16_cifar10
                 05_early_stopping  # 05 redraws from the four MNIST runs before it
                 06_robustness)
           out=results/paper ;;
    reduced) jobs=(03_vgg16_cifar10 06_robustness); out=results/paper/reduced ;;
    *) echo "unknown profile '$profile'; valid profiles: quick, paper, reduced" >&2; exit 2 ;;
esac

current=""  # the job running now, for on_signal
on_signal() {  # $1: signal name, $2: exit code
    trap - INT TERM
    [[ -n ${child:-} ]] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
    echo "interrupted by SIG$1${current:+ during $current}: stopping; earlier results are left in place" >&2
    # Interrupted between the two moves that replace $out/<name>/: put the earlier results back.
    if [[ -n $current && -d $out/$current.old && ! -d $out/$current ]]; then mv "$out/$current.old" "$out/$current"; fi
    [[ -n $current && -d $out/.tmp-$current ]] && echo "partial run kept in $out/.tmp-$current/" >&2
    exit "$2"
}
# A notebook that catches the terminal's SIGINT (papermill does) would otherwise just fail, and the next one start.
# Each notebook runs as a background child that the script waits for: a trapped signal interrupts `wait` at once
# (a foreground child that handles SIGINT itself can make bash drop it), and the trap then stops the child.
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

py=$(bash scripts/setup_env.sh | tail -n 1) || { echo "environment set-up failed" >&2; exit 1; }
mkdir -p "$out"
failed=()
done_ok=()
total=0
for job in "${jobs[@]}"; do [[ -z $only || $job == *"$only"* ]] && total=$((total + 1)); done
[[ $total -gt 0 ]] || { echo "no notebook matches --only '$only'" >&2; exit 2; }

i=0
for job in "${jobs[@]}"; do
    [[ -z $only || $job == *"$only"* ]] || continue
    i=$((i + 1))
    nb=${job%%:*}
    tag=${job#"$nb"}; tag=${tag#:}
    name=$nb${tag:+-$tag}
    current=$name
    [[ -f notebooks/$nb.ipynb ]] || { echo "[$i/$total] $name: notebooks/$nb.ipynb is missing" >&2; failed+=("$name"); continue; }
    params=()
    [[ -f notebooks/profiles/$profile/$name.yaml ]] && params+=(-f "notebooks/profiles/$profile/$name.yaml")
    tmp="$out/.tmp-$name"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    echo "[$i/$total] $name ($profile profile) ..."
    start=$(date +%s)
    "$py" -m papermill "notebooks/$nb.ipynb" "$tmp/$nb.ipynb" --cwd . --progress-bar \
        "${params[@]}" -p progress False -p threads "$threads" "${extra[@]}" -p output_dir "$tmp" &
    child=$!
    if wait "$child"; then
        child=""
        rm -rf "$out/$name.old"
        [[ -d $out/$name ]] && mv "$out/$name" "$out/$name.old"
        mv "$tmp" "$out/$name" && rm -rf "$out/$name.old"
        done_ok+=("$name ($(( $(date +%s) - start )) s)")
        echo "[$i/$total] $name: ok in $(( $(date +%s) - start )) s -> $out/$name/"
    else
        child=""
        failed+=("$name")
        echo "[$i/$total] $name: FAILED after $(( $(date +%s) - start )) s; executed notebook kept in $tmp/" >&2
    fi
done
# The paper's findings judged from every result under results/: results/findings.{csv,md}, the README's table
"$py" scripts/findings.py || failed+=("findings (scripts/findings.py)")

echo
echo "summary ($profile profile): ${#done_ok[@]} ok, ${#failed[@]} failed"
for s in "${done_ok[@]}"; do echo "  ok      $s"; done
for s in "${failed[@]}"; do echo "  FAILED  $s"; done
[[ ${#failed[@]} -eq 0 ]]
