"""Test configuration: float64 is enabled for the test process (gradient checks need it).

The library itself never changes JAX flags; tests that exercise float32 defaults pass explicit dtypes.
"""

import os

os.environ.setdefault("DIFFPHYS_PROGRESS", "0")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    """The multi-device and multi-process checks first (each a subprocess of 15-55 s): with ``make test``'s two
    xdist workers the long tests then start early and the run ends on short ones on both workers, instead of one
    worker finishing a 55 s test alone at the end. Otherwise the collection order is kept (a stable sort)."""
    items.sort(key=lambda item: 0 if "parallel" in item.path.parts else 1)
