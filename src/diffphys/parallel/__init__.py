"""Sharding over several devices and hosts with JAX's own sharding (``jax.sharding``): ensembles of
simulations split across devices, and the gravity solver's particles split across devices."""

from .sharding import (device_mesh, ensemble, ensemble_hlo, ensemble_sharded, gather, particle_sharding, shard_batch,
                       shard_particles)

__all__ = ["device_mesh", "ensemble", "ensemble_sharded", "ensemble_hlo", "gather", "shard_batch", "shard_particles",
           "particle_sharding"]
