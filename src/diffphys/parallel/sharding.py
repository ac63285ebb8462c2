"""Sharding over several devices (and hosts) with JAX's own sharding: the same code on one CPU, one GPU,
or many devices.

Two kinds of parallelism are offered, both through ``jax.sharding`` (a :class:`~jax.sharding.Mesh`, a
:class:`~jax.sharding.NamedSharding` with a :class:`~jax.sharding.PartitionSpec`, ``jax.device_put`` and
``jit``); XLA's SPMD partitioner writes the per-device program and the communication.

* :func:`ensemble`: ``jax.vmap(fn)`` over a batch of parameter sets, the batch axis split across the
  devices (an embarrassingly parallel ensemble: loss landscapes, parameter scans, posterior predictive
  draws). The batch is padded to a multiple of the device count and the padding is stripped again.
* :func:`shard_particles`: a gravity :class:`~diffphys.gravity.PMState` with its particle arrays split
  along the particle axis (the scalar scale factor replicated), so that a jitted
  :func:`diffphys.core.simulate` of a :class:`~diffphys.gravity.PMSolver` runs SPMD: each device paints
  and reads out its own particles; the painted mesh is summed across devices and the FFT Poisson solve
  is left to XLA's partitioner (see docs/parallel.md for what that does).

Nothing here changes JAX's global flags; on one device everything reduces to plain ``jit(vmap(fn))``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["device_mesh", "ensemble", "ensemble_sharded", "ensemble_hlo", "shard_batch", "shard_particles",
           "particle_sharding", "gather", "split_devices"]


def device_mesh(axis: str = "batch", devices=None) -> Mesh:
    """A one-dimensional :class:`jax.sharding.Mesh` named ``axis`` over ``devices`` (default: all devices
    of all processes, ``jax.devices()``)."""
    if not isinstance(axis, str) or not axis:
        raise ValueError(f"axis must be a non-empty string (the mesh axis name); got {axis!r}")
    devs = jax.devices() if devices is None else list(devices)
    if len(devs) == 0:
        raise ValueError("devices must hold at least one device; got an empty sequence")
    return Mesh(np.asarray(devs, dtype=object), (axis,))


def split_devices(count: int = 0, axis: str = "batch") -> Mesh | None:
    """The device mesh for splitting one simulation (``gravity.PMSolver(devices=...)``): ``count = 0`` takes
    all devices, ``count = n`` the first ``n``; ``None`` when that is a single device (nothing to split)."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"devices must be 0 (all) or a positive number of devices; got {count!r}")
    devs = jax.devices()
    if count > len(devs):
        raise ValueError(f"devices = {count} but only {len(devs)} device(s) are available")
    devs = devs[: count or len(devs)]
    return device_mesh(axis, devs) if len(devs) > 1 else None


def _mesh_and_size(mesh, axis):
    if mesh is None:
        mesh = device_mesh(axis)
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh (see device_mesh); got {type(mesh).__name__}")
    if axis not in mesh.axis_names:
        raise ValueError(f"axis {axis!r} is not an axis of the mesh; its axes are {tuple(mesh.axis_names)}")
    return mesh, int(mesh.shape[axis])


def _batch_size(tree, name):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if not leaves:
        raise ValueError(f"{name} is empty: it must be a pytree with at least one array leaf")
    paths = [jax.tree_util.keystr(p) or "<root>" for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    sizes = []
    for path, leaf in zip(paths, leaves):
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(f"{name}{path if path != '<root>' else ''} is a scalar: every leaf needs a leading "
                             f"batch axis")
        sizes.append(shape[0])
    if len(set(sizes)) != 1:
        detail = ", ".join(f"{p}: {s}" for p, s in zip(paths, sizes))
        raise ValueError(f"{name} leaves have mismatched leading (batch) sizes ({detail}); they must all agree")
    if sizes[0] == 0:
        raise ValueError(f"{name} has an empty batch (leading size 0); the batch must hold at least one entry")
    return sizes[0]


def shard_batch(batched, mesh: Mesh | None = None, axis: str = "batch"):
    """Place a batched pytree on ``mesh`` with its leading axis split along ``axis``.

    The batch is padded to a multiple of the number of devices along ``axis`` by repeating its last entry
    (valid parameters, so the padding evaluates without NaN). Returns ``(placed, batch)``, ``batch`` being
    the original leading size."""
    mesh, n_dev = _mesh_and_size(mesh, axis)
    batch = _batch_size(batched, "batched_params")
    pad = (-batch) % n_dev

    def place(x):
        x = jnp.asarray(x)
        if pad:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)
        return jax.device_put(x, NamedSharding(mesh, P(axis)))

    return jax.tree_util.tree_map(place, batched), batch


def ensemble_sharded(fn: Callable, batched_params: Any, mesh: Mesh | None = None, axis: str = "batch",
                     method: str = "vmap", batch_size: int | None = None):
    """Like :func:`ensemble` but returns ``(outputs, batch)`` with the outputs still sharded across the mesh
    and padded (the entries from ``batch`` on repeat the last parameter set).

    For chaining further sharded work or for inspecting where the outputs live (``out.sharding``,
    ``out.addressable_shards``)."""
    if not callable(fn):
        raise ValueError(f"fn must be callable (params -> outputs); got {type(fn).__name__}")
    method, batch_size = _check_method(method, batch_size)
    mesh, _ = _mesh_and_size(mesh, axis)
    placed, batch = shard_batch(batched_params, mesh, axis)
    return _ensemble_program(fn, mesh, axis, method, batch_size)(placed), batch


def _check_method(method, batch_size):
    if method not in ("vmap", "map"):
        raise ValueError(f"method must be 'vmap' (all of a device's parameter sets at once) or 'map' (one after "
                         f"another on each device); got {method!r}")
    if batch_size is not None:
        if method != "map":
            raise ValueError("batch_size goes with method='map' (the size of the vmapped chunks of lax.map)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None; got {batch_size!r}")
        batch_size = int(batch_size)
    return method, batch_size


@functools.lru_cache(maxsize=64)
def _ensemble_program(fn, mesh, axis, method="vmap", batch_size=None):
    # cached, so that calling ensemble again with the same fn and mesh reuses the compiled program
    # (a fresh jax.jit(jax.vmap(fn)) per call would miss JAX's compilation cache and recompile)
    spec = P(axis)
    if method == "vmap":  # XLA's partitioner splits the vmapped program along the batch
        return jax.jit(jax.vmap(fn), out_shardings=NamedSharding(mesh, spec))
    # explicit per-device program: each device maps fn over its own block, one set (or chunk) at a time
    local = jax.shard_map(lambda block: jax.lax.map(fn, block, batch_size=batch_size), mesh=mesh,
                          in_specs=spec, out_specs=spec, check_vma=False)  # user fns: no pcast needed
    return jax.jit(local)


def ensemble_hlo(fn: Callable, batched_params: Any, mesh: Mesh | None = None, axis: str = "batch",
                 method: str = "vmap", batch_size: int | None = None) -> str:
    """The compiled, partitioned program that :func:`ensemble` runs, as text (XLA HLO after SPMD
    partitioning): its entry parameters have the per-device shapes, and any communication shows up as
    ``all-gather``/``all-reduce``/``collective-permute`` ops. For checking that a batch really is split."""
    method, batch_size = _check_method(method, batch_size)
    mesh, _ = _mesh_and_size(mesh, axis)
    placed, _ = shard_batch(batched_params, mesh, axis)
    return _ensemble_program(fn, mesh, axis, method, batch_size).lower(placed).compile().as_text()


def gather(tree, batch: int | None = None):
    """Bring (possibly sharded, possibly multi-host) arrays back as ordinary single-device arrays, keeping
    the first ``batch`` entries of the leading axis (all when ``None``)."""

    def one(x):
        if not isinstance(x, jax.Array):
            x = jnp.asarray(x)
        if x.is_fully_addressable:
            y = jax.device_put(x, jax.local_devices()[0])
        else:  # several hosts: every process receives the whole array
            from jax.experimental import multihost_utils

            y = jnp.asarray(multihost_utils.process_allgather(x, tiled=True))
        return y if batch is None else y[:batch]

    return jax.tree_util.tree_map(one, tree)


def ensemble(fn: Callable, batched_params: Any, mesh: Mesh | None = None, axis: str = "batch",
             method: str = "vmap", batch_size: int | None = None):
    """Evaluate ``jax.vmap(fn)(batched_params)`` with the batch split across the devices of ``mesh``.

    Args:
        fn: a JAX-traceable function of one parameter set (a pytree) returning a pytree of arrays.
        batched_params: the parameter sets stacked along a leading axis of every leaf (same size for all).
        mesh: a :class:`jax.sharding.Mesh` with an axis named ``axis`` (default: :func:`device_mesh` over
            all devices). With one device and ``method="vmap"`` this is plain ``jit(vmap(fn))``.
        axis: the mesh axis the batch is split along.
        method: how each device evaluates its share. ``"vmap"`` (default): all at once, vectorised (best
            for fixed-length work, and on GPUs). ``"map"``: one after another with ``lax.map`` inside a
            ``shard_map`` (best on CPUs for simulations with adaptive steps or data-dependent loops, where
            a vmapped loop runs every member for as many steps as the slowest and computes both sides of
            every ``cond``: for a 36-run wind landscape on this CPU, ``map`` was 2.1x faster than ``vmap``).
        batch_size: with ``method="map"``, evaluate chunks of this many sets vectorised
            (``lax.map(..., batch_size=...)``).

    Returns the outputs of ``vmap(fn)`` (leading axis = the batch) as ordinary single-device arrays.
    The batch is padded to a multiple of the device count (repeating the last set) and the padding stripped.
    """
    out, batch = ensemble_sharded(fn, batched_params, mesh, axis, method, batch_size)
    return gather(out, batch)


# ---- particle decomposition for the gravity solver -------------------------------------------------------

def particle_sharding(state, mesh: Mesh, axis: str = "batch"):
    """The shardings of a particle state (a pytree such as :class:`~diffphys.gravity.PMState`): arrays with
    a leading particle axis ``(N, ...)`` split along ``axis``, scalars (the scale factor) replicated."""
    mesh, n_dev = _mesh_and_size(mesh, axis)

    def spec(x):
        shape = np.shape(x)
        if len(shape) == 0:
            return NamedSharding(mesh, P())
        if shape[0] % n_dev:
            raise ValueError(f"the number of particles ({shape[0]}) must be a multiple of the number of devices "
                             f"along {axis!r} ({n_dev}) to split the particles evenly")
        return NamedSharding(mesh, P(axis, *([None] * (len(shape) - 1))))

    return jax.tree_util.tree_map(spec, state)


def shard_particles(state, mesh: Mesh | None = None, axis: str = "batch"):
    """Place a particle state with its particle arrays split across ``mesh`` along ``axis`` (mesh-sized
    arrays are not part of the state: the solver's meshes are built inside the step, where XLA decides).

    Outside ``jit`` this moves the arrays (``jax.device_put``); inside a jitted function it adds a sharding
    constraint (``jax.lax.with_sharding_constraint``), which XLA's partitioner propagates through the
    time loop: e.g. ``jax.jit(lambda n: simulate(solver, shard_particles(solver.initial_state(n, c), mesh),
    c, num_steps=k))``. The number of particles must be a multiple of the device count."""
    mesh, _ = _mesh_and_size(mesh, axis)
    leaves = jax.tree_util.tree_leaves(state)
    if not leaves:
        raise ValueError("state is empty: it must be a pytree of particle arrays")
    shardings = particle_sharding(state, mesh, axis)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return jax.lax.with_sharding_constraint(state, shardings)
    return jax.device_put(state, shardings)
