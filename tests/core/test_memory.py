"""Memory of the reverse pass, from XLA's compiled buffer sizes (deterministic, not a timing)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from core_memory import measure  # noqa: E402

from diffphys.core import Store  # noqa: E402


def test_checkpoint_uses_a_tenth_of_store_memory_over_10000_steps():
    store = measure("store", 10_000, time_it=False)["temp_bytes"]
    ckpt = measure("checkpoint", 10_000, time_it=False)["temp_bytes"]
    rec = measure("recursive", 10_000, time_it=False)["temp_bytes"]
    state = 2 * 256 * 8
    assert store > 10_000 * state  # store keeps (at least) every step's state
    assert ckpt <= store / 10
    assert rec <= ckpt


def test_checkpoint_memory_grows_like_sqrt_steps():
    small = measure("checkpoint", 400, time_it=False)["temp_bytes"]
    large = measure("checkpoint", 40_000, time_it=False)["temp_bytes"]
    # 100x the steps: sqrt growth is 10x; linear would be 100x
    assert large / small < 20


def test_store_with_remat_steps_keeps_only_the_states():
    store = measure("store", 10_000, time_it=False)["temp_bytes"]
    remat = measure(Store(remat_steps=True), 10_000, time_it=False)
    states = 10_000 * remat["state_bytes"]
    # every step's state and (up to a chunk's worth of loop bookkeeping) nothing else; plain store keeps
    # the step's intermediates as well
    assert states <= remat["temp_bytes"] <= 1.05 * states
    assert store >= 2 * remat["temp_bytes"]
