"""Sharding over several devices and hosts with JAX's own sharding (``jax.sharding``): ensembles of
simulations split across devices, the gravity solver's particles split across devices, and slab-decomposed FFTs
(:mod:`diffphys.parallel.fft`) for its mesh."""

from .sharding import (device_mesh, ensemble, ensemble_hlo, ensemble_sharded, gather, particle_sharding, shard_batch,
                       shard_particles, split_devices)

__all__ = ["device_mesh", "ensemble", "ensemble_sharded", "ensemble_hlo", "gather", "shard_batch", "shard_particles",
           "particle_sharding", "split_devices"]
