#!/usr/bin/env bash
# The benchmarks on an accelerator machine, in one command with a time limit per benchmark.
#
#   bash benchmarks/device_run.sh [RESULTS_DIR]
#
# The peers (jf1uids, astronomix, phiflow, jax-cfd, jaxpm and what they need) are installed from wheels in .whl/ when that
# folder exists (machines without a package index); otherwise the running python must already have them.
# Each benchmark writes its JSON to RESULTS_DIR (default benchmarks/results/device); all output goes to
# RESULTS_DIR/device_run.log. A benchmark that fails or runs out of time is reported and the next one runs.
set -u
R=${1:-benchmarks/results/device}
mkdir -p "$R"
export DIFFPHYS_BENCH_RESULTS=$R DIFFPHYS_PROGRESS=0 PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PY:-python3}
LOG=$R/device_run.log
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || echo "wheel install failed" | tee -a "$LOG"
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc
  $PY -c "import jax, sys; print(sys.version.split()[0], 'jax', jax.__version__, jax.devices())"; } 2>&1 | tee -a "$LOG"

run() {  # name seconds script args...
  local name=$1 lim=$2; shift 2
  echo "== $name (limit ${lim}s) $(date -u +%T)" | tee -a "$LOG"
  local t0=$SECONDS
  timeout "$lim" $PY "$@" >>"$LOG" 2>&1
  echo "== $name rc=$? in $((SECONDS - t0)) s" | tee -a "$LOG"
}

# a smoke test first: if the library does not import or run here, say so at once
run smoke 60 -c "import jax, jax.numpy as jnp; from diffphys import gravity as g; \
s = g.PMSolver(box=(64.,)*3, ptcl_grid=(8,)*3, mesh=(16,)*3, a_start=0.1, a_stop=1.0, num_steps=4); \
c = g.Cosmology().tabulate(); from diffphys.core import simulate; \
st = simulate(s, s.initial_state(g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid), c), c, num_steps=4).state; \
print('smoke ok', jnp.isfinite(st.disp).all(), st.disp.devices())"
# BENCHES picks which to run (default: all, in this order)
want() { case " ${BENCHES:-gravity_pm flow_karman flow_taylor_green flow_spectral hydro_ensemble hydro_wind hydro_2d hydro_collapse} " in *" $1 "*) return 0;; esac; return 1; }
want gravity_pm && run gravity_pm "${GRAVITY_LIMIT:-150}" benchmarks/gravity_pm.py --large
want flow_karman && run flow_karman "${KARMAN_LIMIT:-80}" benchmarks/flow_karman.py
want flow_taylor_green && run flow_taylor_green "${TG_LIMIT:-40}" benchmarks/flow_taylor_green.py
want flow_spectral && run flow_spectral "${SPECTRAL_LIMIT:-60}" benchmarks/flow_spectral.py --n "${SPECTRAL_N:-256}"
want hydro_ensemble && run hydro_ensemble "${ENS_LIMIT:-150}" benchmarks/hydro_ensemble.py --sizes "${ENS_SIZES:-1,64,512}"
want hydro_wind && run hydro_wind "${HYDRO_LIMIT:-100}" benchmarks/hydro_wind.py --no-memory --no-fit ${HYDRO_ARGS:-}
want hydro_2d && run hydro_2d "${HYDRO2D_LIMIT:-150}" benchmarks/hydro_2d.py --n "${HYDRO2D_N:-256}" --rows hllc --reps 3
want hydro_collapse && run hydro_collapse "${COLLAPSE_LIMIT:-240}" benchmarks/hydro_collapse.py --n "${COLLAPSE_N:-64}" --reps 2
want hydro_grad_breakdown && run hydro_grad_breakdown "${BREAKDOWN_LIMIT:-90}" benchmarks/hydro_grad_breakdown.py
want mhd_orszag_tang && run mhd_orszag_tang "${MHD_LIMIT:-180}" benchmarks/mhd_orszag_tang.py ${MHD_ARGS:---n 64 128 256 --f64-max-n 0 --fv-max-n 256 --long-s 30}
want hydro_grad_layouts && run hydro_grad_layouts "${LAYOUT_LIMIT:-150}" benchmarks/hydro_grad_layouts.py ${LAYOUT_ARGS:-}
# NUTS chains one after another vs in lock-step (vmap) on this machine: the quick wind posterior, each way
for m in sequential vectorized; do
  want "posterior_$m" && run "posterior_$m" "${POST_LIMIT:-90}" -m diffphys run wind-posterior --quick \
    --set chain_method=$m --out "/tmp/posterior_$m" && cp "/tmp/posterior_$m/metrics.json" "$R/posterior_$m.json"
done
if [ "${TESTS_LIMIT:-0}" -gt 0 ]; then   # the test suite on this machine's accelerator (float64 where the tests ask)
  echo "== pytest (limit ${TESTS_LIMIT}s) $(date -u +%T)" | tee -a "$LOG"
  timeout "$TESTS_LIMIT" $PY -m pytest -q -x -n "${TESTS_WORKERS:-6}" -p no:cacheprovider ${TESTS_ARGS:-} > "$R/pytest.log" 2>&1
  echo "== pytest rc=$?" | tee -a "$LOG"; tail -3 "$R/pytest.log" | tee -a "$LOG"
fi
date -u | tee -a "$LOG"
