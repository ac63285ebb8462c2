"""Test configuration: float64 is enabled for the test process (gradient checks need it).

The library itself never changes JAX flags; tests that exercise float32 defaults pass explicit dtypes.

XLA compiler flags for the tests (not for users): the suite is compile-bound (a warm persistent compilation
cache runs the hydro solver and gradient modules 6x faster), so the tests ask XLA's CPU backend for cheap code
generation: LLVM at optimisation level 0 and the classic elemental emitters instead of the fusion emitters. The
programs compute the same operations (IEEE semantics, no fast-math either way); only round-off in the last bits
may differ (two tests that compared different programs bit for bit now compare them to round-off). On the 2-core sandbox
this took ``make test`` from 16:29 to 7:14 (2026-11-28). An ``XLA_FLAGS`` set by the caller wins (e.g.
``XLA_FLAGS=--xla_force_host_platform_device_count=1 make test`` runs the suite with the default compiler).
Subprocess tests (multi-device, multi-process) add ``TEST_XLA_FLAGS`` to their own device-count flag. Only the
default selection (``make test``) uses these flags; ``make test-all`` runs everything with XLA's defaults (below).
"""

import os

TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
os.environ.setdefault("DIFFPHYS_PROGRESS", "0")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_configure(config):
    """The cheap code generation for the default selection (``-m 'not slow'``, i.e. ``make test``) only: the slow
    validations are long runs, not compilations (there ``-O0`` code is slower), so ``make test-all`` (``-m ''``)
    compiles everything with XLA's defaults. Runs before any test module touches a JAX backend."""
    fast = str(config.getoption("markexpr", "") or "").strip() == "not slow"
    extra = TEST_XLA_FLAGS if fast else ""
    os.environ.setdefault("XLA_FLAGS", ("--xla_force_host_platform_device_count=1 " + extra).strip())
    os.environ.setdefault("DIFFPHYS_TEST_XLA_FLAGS", extra)


def pytest_collection_modifyitems(config, items):
    """The multi-device and multi-process checks first (each a subprocess of 15-55 s): with ``make test``'s two
    xdist workers the long tests then start early and the run ends on short ones on both workers, instead of one
    worker finishing a 55 s test alone at the end. Otherwise the collection order is kept (a stable sort)."""
    items.sort(key=lambda item: 0 if "parallel" in item.path.parts else 1)
