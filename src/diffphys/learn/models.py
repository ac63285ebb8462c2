"""Small equinox models for fields on a periodic 2D grid.

:class:`PeriodicCNN` maps a stack of fields ``(channels, nx, ny)`` to a stack of the same spatial shape
with a few 3x3 convolutions on periodically padded inputs (so the model is translation-equivariant on
the torus, like the solver it corrects). The last layer starts with weights scaled by ``init_scale``
(small), so the untrained correction is close to zero and training starts from the plain solver.

:class:`VelocityCNN` wraps it for the staggered ``(u, v)`` components of a periodic
:class:`~diffphys.flow.FlowState`: both are ``(nx, ny)`` arrays there, stacked as two channels
(the half-cell offset between them is left for the convolution to learn, as in Um et al. 2020).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from ..core.checks import check_choice, check_int, check_positive

__all__ = ["PeriodicCNN", "VelocityCNN", "periodic_pad"]

ACTIVATIONS = {"gelu": jax.nn.gelu, "tanh": jnp.tanh, "relu": jax.nn.relu}


def periodic_pad(x, width: int):
    """Wrap-pad the last two axes of ``x`` by ``width`` cells on each side."""
    pads = [(0, 0)] * (x.ndim - 2) + [(width, width), (width, width)]
    return jnp.pad(x, pads, mode="wrap")


class PeriodicCNN(eqx.Module):
    """A stack of ``kernel x kernel`` convolutions with periodic padding.

    Args:
        in_channels, out_channels: channels of the input and output stacks.
        width: hidden channels (one int for all hidden layers, or a sequence, one per hidden layer).
        depth: number of hidden layers (used when ``width`` is an int); ``depth + 1`` convolutions in all.
        key: a ``jax.random`` key (the initialisation is a deterministic function of it).
        kernel: odd kernel size (default 3).
        activation: ``"gelu"``, ``"tanh"`` or ``"relu"``.
        init_scale: factor on the last layer's initial weights and bias; 0 gives an exactly-zero
            untrained output (and zero gradients for all but the last layer at the first step).
        dtype: parameter dtype (default float32); calls cast the parameters to the input's dtype.
    """

    layers: tuple
    activation: str = eqx.field(static=True)
    kernel: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, width: int | Sequence[int] = 16, depth: int = 2, *,
                 key, kernel: int = 3, activation: str = "gelu", init_scale: float = 1e-3, dtype=None):
        in_channels = check_int("in_channels", in_channels, lo=1)
        out_channels = check_int("out_channels", out_channels, lo=1)
        kernel = check_int("kernel", kernel, lo=1)
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (symmetric periodic padding); got {kernel}")
        check_choice("activation", activation, tuple(ACTIVATIONS))
        check_positive("init_scale", init_scale, allow_zero=True)
        if isinstance(width, int):
            depth = check_int("depth", depth, lo=0)
            widths = [check_int("width", width, lo=1)] * depth
        else:
            widths = [check_int("width", w, lo=1) for w in width]
        dtype = dtype if dtype is not None else jnp.float32
        chans = [in_channels, *widths, out_channels]
        keys = jax.random.split(key, len(chans) - 1)
        layers = []
        for a, b, k in zip(chans[:-1], chans[1:], keys):
            layers.append(eqx.nn.Conv2d(a, b, kernel, padding=0, key=k, dtype=dtype))
        last = layers[-1]
        last = eqx.tree_at(lambda c: (c.weight, c.bias), last, (last.weight * init_scale, last.bias * init_scale))
        layers[-1] = last
        self.layers = tuple(layers)
        self.activation = activation
        self.kernel = kernel
        self.in_channels, self.out_channels = in_channels, out_channels

    def __call__(self, x):
        """``x``: ``(in_channels, nx, ny)`` -> ``(out_channels, nx, ny)``, in the dtype of ``x``."""
        if x.ndim != 3 or x.shape[0] != self.in_channels:
            raise ValueError(f"PeriodicCNN input must have shape (in_channels={self.in_channels}, nx, ny); "
                             f"got {x.shape}")
        act = ACTIVATIONS[self.activation]
        r = self.kernel // 2
        h = x
        for i, layer in enumerate(self.layers):
            w = layer.weight.astype(h.dtype)
            b = layer.bias.astype(h.dtype)
            h = jax.lax.conv_general_dilated(periodic_pad(h, r)[None], w, (1, 1), "VALID",
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))[0] + b
            if i < len(self.layers) - 1:
                h = act(h)
        return h


class VelocityCNN(eqx.Module):
    """A :class:`PeriodicCNN` on the ``(u, v)`` components of a periodic MAC-grid velocity.

    ``model(u, v) -> (du, dv)``. Inputs are divided by ``velocity_scale`` and outputs multiplied by
    ``output_scale`` (fixed numbers, not trained) so that the network works with O(1) values.
    """

    net: PeriodicCNN
    velocity_scale: float = eqx.field(static=True)
    output_scale: float = eqx.field(static=True)

    def __init__(self, width: int | Sequence[int] = 16, depth: int = 2, *, key, kernel: int = 3,
                 activation: str = "gelu", init_scale: float = 1e-3, velocity_scale: float = 1.0,
                 output_scale: float = 1.0, dtype=None):
        check_positive("velocity_scale", velocity_scale)
        check_positive("output_scale", output_scale)
        self.net = PeriodicCNN(2, 2, width, depth, key=key, kernel=kernel, activation=activation,
                               init_scale=init_scale, dtype=dtype)
        self.velocity_scale = float(velocity_scale)
        self.output_scale = float(output_scale)

    def __call__(self, u, v):
        if u.shape != v.shape or u.ndim != 2:
            raise ValueError(f"VelocityCNN needs u and v of the same 2D shape (a periodic grid); "
                             f"got u {u.shape}, v {v.shape}")
        x = jnp.stack([u, v]) / self.velocity_scale
        out = self.net(x) * self.output_scale
        return out[0], out[1]
