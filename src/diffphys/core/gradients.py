"""Gradient strategies: how the time loop is laid out for reverse-mode differentiation.

All strategies compute the same function and the same derivatives (to round-off); they differ in
how much the reverse pass stores and how much it recomputes:

=============  ======================================  ====================
strategy       memory of a reverse pass over N steps    forward recomputation
=============  ======================================  ====================
``Store``      N states (plain autodiff through scan)   none
``Checkpoint`` ~ 2 sqrt(N) states (chunked scans)        1 extra forward
``Recursive``  ~ k log_k(N) states (nested chunks)       ~ log_k(N) forwards
adjoint        constant (solver-provided, e.g. the     one reverse-time
               gravity solver's reverse integration)   integration
=============  ======================================  ====================

A strategy only has to lay out ``length`` calls of a ``body(carry) -> carry`` function. Steps past the
end of the run (padding to a chunk multiple) are masked by the body itself, so strategies are free to
pad. Forward mode (``jax.jvp``/``jax.jacfwd``) works through every layout, because ``jax.checkpoint``
and ``lax.scan`` both support it.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
from jax import lax

__all__ = ["GradientStrategy", "Store", "Checkpoint", "Recursive", "resolve_strategy"]


def _scan(body: Callable, carry, length: int):
    if length == 0:
        return carry
    return lax.scan(lambda c, _: (body(c), None), carry, None, length=length)[0]


def _skip_unless(active, fn):
    """``fn`` on carries where ``active(carry)``; the identity (skipped) elsewhere."""
    if active is None:
        return fn
    return lambda c: lax.cond(active(c), fn, lambda x: x, c)


def _chunked(body: Callable, carry, length: int, chunk: int, active=None, wrap=lambda f: f):
    """``length`` calls of ``body`` as scans of ``chunk`` calls (plus a shorter last scan), each chunk
    wrapped by ``wrap`` and skipped as a whole when ``active`` is given and false at its start."""
    n, rest = divmod(length, chunk)
    carry = _scan(_skip_unless(active, wrap(lambda x: _scan(body, x, chunk))), carry, n)
    if rest:
        carry = _skip_unless(active, wrap(lambda x: _scan(body, x, rest)))(carry)
    return carry


class GradientStrategy:
    """Base class. Subclasses implement :meth:`loop`; ``padded_length`` says how many slots it runs."""

    def padded_length(self, length: int) -> int:
        return length

    def loop(self, body: Callable, carry, length: int, active=None):  # pragma: no cover - interface
        """Run ``length`` calls of ``body``. ``active(carry) -> bool``, when given, says that the
        remaining calls still matter: once it is false, ``body`` is known to leave the carry unchanged
        and a strategy may skip the rest (in chunks) without changing the result."""
        raise NotImplementedError

    def wrap_segment(self, fn: Callable) -> Callable:
        """How an outer loop over saved segments should wrap each segment (checkpoint or not)."""
        return fn

    def __repr__(self):
        return f"{type(self).__name__}()"


class Store(GradientStrategy):
    """Plain autodiff through ``lax.scan``: every step's residuals are kept for the reverse pass."""

    def loop(self, body, carry, length, active=None):
        if active is None or length < 4:
            return _scan(body, carry, length)
        return _chunked(body, carry, length, max(1, math.ceil(math.sqrt(length))), active)


class Checkpoint(GradientStrategy):
    """Chunked checkpointing: an outer scan over chunks of ``chunk`` steps, each chunk rematerialised.

    The reverse pass stores one carry per chunk plus the residuals of one chunk: with the default
    ``chunk = ceil(sqrt(N))`` that is about ``2 sqrt(N)`` states.

    ``remat_steps=True`` also rematerialises each step inside a chunk: the chunk's recomputation keeps
    only its carries (``chunk`` states instead of every step's intermediates), and the reverse pass
    recomputes each step right before its transpose. One more forward evaluation per step, but the
    intermediates stay in cache instead of going through memory: faster for steps with many cheap
    intermediates on CPU (the hydro solver: 2x), and less memory.
    """

    def __init__(self, chunk: int | None = None, remat_steps: bool = False):
        if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
            raise ValueError(f"Checkpoint chunk must be a positive integer; got {chunk!r}")
        if not isinstance(remat_steps, bool):
            raise ValueError(f"Checkpoint remat_steps must be True or False; got {remat_steps!r}")
        self.chunk = chunk
        self.remat_steps = remat_steps

    def _chunk(self, length):
        return self.chunk or max(1, math.ceil(math.sqrt(length)))

    def padded_length(self, length):
        c = self._chunk(length)
        return c * math.ceil(length / c) if length else 0

    def loop(self, body, carry, length, active=None):
        if length == 0:
            return carry
        c = self._chunk(length)
        n = math.ceil(length / c)
        step = jax.checkpoint(body) if self.remat_steps else body
        return _chunked(step, carry, n * c, c, active, jax.checkpoint)

    def wrap_segment(self, fn):
        return jax.checkpoint(fn)

    def __repr__(self):
        extra = ", remat_steps=True" if self.remat_steps else ""
        return f"Checkpoint(chunk={self.chunk}{extra})"


def _factors(length: int, branching: int) -> list[int]:
    """Branching factors per level whose product covers ``length`` with little padding."""
    if length <= branching:
        return [max(length, 1)]
    depth = math.ceil(math.log(length) / math.log(branching) - 1e-12)
    ks, remaining = [], length
    for level in range(depth):
        k = max(2, math.ceil(remaining ** (1.0 / (depth - level)) - 1e-9))
        ks.append(k)
        remaining = math.ceil(remaining / k)
    return ks


class Recursive(GradientStrategy):
    """Recursive (nested) checkpointing: memory ~ ``branching * log_branching(N)`` states.

    Level 0 is a plain scan of ``k_0`` steps; level ``l`` scans ``k_l`` rematerialised copies of
    level ``l-1``. The forward pass is recomputed about once per level during the reverse pass.
    """

    def __init__(self, branching: int = 4):
        if not isinstance(branching, int) or branching < 2:
            raise ValueError(f"Recursive branching must be an integer >= 2; got {branching!r}")
        self.branching = branching

    def padded_length(self, length):
        return math.prod(_factors(length, self.branching)) if length else 0

    def loop(self, body, carry, length, active=None):
        if length == 0:
            return carry
        ks = _factors(length, self.branching)
        fn = lambda x, k=ks[0]: _scan(body, x, k)  # noqa: E731
        for k in ks[1:]:
            fn = (lambda inner, kk: (lambda x: _scan(jax.checkpoint(inner), x, kk)))(fn, k)
        return fn(carry)

    def wrap_segment(self, fn):
        return jax.checkpoint(fn)

    def __repr__(self):
        return f"Recursive(branching={self.branching})"


_NAMED = {"store": Store, "checkpoint": Checkpoint, "recursive": Recursive}


def resolve_strategy(gradient, solver=None):
    """Turn ``gradient=`` (a name or an object) into a strategy object.

    ``"adjoint"`` asks the solver for its own adjoint via ``solver.adjoint()``; any object with a
    ``simulate(solver, state0, params, **kwargs)`` method is used as a full replacement of the loop.
    """
    if isinstance(gradient, str):
        if gradient == "adjoint":
            if solver is None or not hasattr(solver, "adjoint"):
                name = type(solver).__name__
                raise ValueError(f"gradient='adjoint' needs a solver-provided adjoint; {name} has none. "
                                 f"Use one of 'store', 'checkpoint', 'recursive'.")
            return solver.adjoint()
        if gradient not in _NAMED:
            raise ValueError(f"gradient must be one of 'store', 'checkpoint', 'recursive', 'adjoint' "
                             f"or a strategy object; got {gradient!r}")
        return _NAMED[gradient]()
    if isinstance(gradient, GradientStrategy) or hasattr(gradient, "simulate"):
        return gradient
    raise ValueError(f"gradient must be a strategy name or object; got {gradient!r}")
