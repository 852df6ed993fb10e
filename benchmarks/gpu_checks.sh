#!/usr/bin/env bash
# Every GPU figure BENCHMARKS.md asks for, in one prepared run (a GPU machine is lent for a
# few minutes at a time, so the checks go as one command that ends well inside ten minutes):
#
#   - the device JAX finds (devices.txt);
#   - PC 784-360-360-10, compiled/hand-written at batch 64 and 1024 (pc_b64.*, pc_b1024.*);
#   - COBA scaled to 100,000 and 1,000,000 neurons: build, and run time per biological
#     second (coba.*);
#   - a 64-member PC study, one `ngc sweep` against sequential `with_params().run()` calls
#     (sweep.txt).
#
# Results go to $OUT (default /tmp/ngcspec-gpu). On a machine without a GPU the same script
# runs on the CPU, which is how it is checked: QUICK=1 SIZES=4000 bash benchmarks/gpu_checks.sh
#
# Environment: PYTHON (default python3), QUICK=1 (short bench_pc calls, one sweep pair),
# SIZES (COBA sizes, default 100000,1000000). Packages the machine lacks (pydantic,
# pydantic-core, annotated-types, typing-inspection) can travel as wheels in ./.whl, which
# are installed first; ngcspec itself is installed from this tree without dependencies.
set -uo pipefail

OUT=${OUT:-/tmp/ngcspec-gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 NGCSPEC_CACHE_DIR=off

if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/ngcspec-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/ngcspec-site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$PY" -c "import ngcspec.cli.app" 2> /dev/null; then
    "$PY" -m pip install -q --no-deps --no-build-isolation -e . || exit 1
fi

step() { echo "== $1 ($(date +%T))"; }

step devices
"$PY" -c "import jax; print(jax.__version__, jax.devices())" 2>&1 | tee "$OUT/devices.txt"

for b in 64 1024; do
    step "PC compiled/hand at batch $b"
    "$PY" benchmarks/bench_pc.py --batch-size "$b" --skip-loop ${QUICK:+--quick} \
        --json "$OUT/pc_b$b.json" 2>&1 | tee "$OUT/pc_b$b.txt"
done

step "COBA at ${SIZES:-100000,1000000} neurons"
"$PY" benchmarks/bench_coba.py --scaled "${SIZES:-100000,1000000}" --repeats 3 --brian2 '' \
    --json "$OUT/coba.json" 2>&1 | tee "$OUT/coba.txt"

step "sweep of 64 PC members"
pairs=3
[ -n "${QUICK:-}" ] && pairs=1
"$PY" benchmarks/bench_sweep.py --only pc --sample 1 --repeats "$pairs" 2>&1 | tee "$OUT/sweep.txt"
step done
