"""Test configuration: float64 is enabled for the test process (gradient checks need it).

The library itself never changes JAX flags; tests that exercise float32 defaults pass explicit dtypes.
"""

import os

os.environ.setdefault("DIFFPHYS_PROGRESS", "0")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
