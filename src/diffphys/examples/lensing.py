"""Weak lensing by a PM universe: a Born convergence map, its power spectrum vs Limber, and its derivatives.

Default: 64^3 particles on a 128^3 mesh in a (256 Mpc/h)^3 box, 2LPT at a = 1/32, FastPM steps to a = 1
(coarse to the light cone's far end, then every ``da_lightcone``); the light cone to ``z_source`` is cut into
shells a quarter of the box thick, each filled from the nearest snapshot moved to its own scale factor
(:mod:`diffphys.gravity.lensing`), and summed in the Born approximation on a ``field_deg`` square field.
Metrics: the map's rms, its angular power over Limber's integral of the linear and of the Halofit power (low
multipoles: linear theory should hold, within the cosmic variance of one small field; higher: the nonlinear boost),
and d ln C_ell / d ln sigma8 by forward mode through the whole simulation (2 for linear growth; more where
structure is nonlinear).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from ..core.checks import check_int, check_range  # noqa: E402

HEADLINE = True


@dataclasses.dataclass
class Config:
    ptcl: int = 64
    mesh_factor: int = 2
    box: float = 256.0
    a_start: float = 1.0 / 32
    steps_to_lightcone: int = 10     # coarse steps from a_start to the far end of the light cone
    da_lightcone: float = 0.025      # step in a inside the light cone (every step saved)
    z_source: float = 1.0
    planes_per_box: int = 4
    field_deg: float = 5.0
    npix: int = 128
    Omega_m: float = 0.3
    sigma8: float = 0.8
    seed: int = 0
    ell_linear: float = 300.0        # C_ell / Limber averaged below this multipole ...
    ell_nonlinear: float = 1000.0    # ... and from ell_linear to this one (below the mesh's resolution limit)

    def validate(self):
        check_int("ptcl", self.ptcl, lo=8, hi=512)
        check_int("mesh_factor", self.mesh_factor, lo=1, hi=4)
        check_range("box", self.box, 0.0, 1e5, lo_open=True)
        check_range("a_start", self.a_start, 1e-3, 0.5, lo_open=True)
        check_int("steps_to_lightcone", self.steps_to_lightcone, lo=1, hi=1000)
        check_range("da_lightcone", self.da_lightcone, 0.0, 0.5, lo_open=True)
        check_range("z_source", self.z_source, 0.0, 5.0, lo_open=True)
        check_int("planes_per_box", self.planes_per_box, lo=1, hi=64)
        if (self.mesh_factor * self.ptcl) % self.planes_per_box:
            raise ValueError(f"planes_per_box = {self.planes_per_box} must divide the mesh "
                             f"({self.mesh_factor * self.ptcl} cells)")
        if 1.0 / (1.0 + self.z_source) <= self.a_start:
            raise ValueError(f"the source (z = {self.z_source}) must lie after a_start = {self.a_start}")
        check_range("field_deg", self.field_deg, 0.0, 20.0, lo_open=True)
        check_int("npix", self.npix, lo=8, hi=2048)
        check_range("Omega_m", self.Omega_m, 0.0, 1.0, lo_open=True)
        check_range("sigma8", self.sigma8, 0.0, 3.0, lo_open=True)
        check_range("ell_linear", self.ell_linear, 0.0, 1e5, lo_open=True)
        check_range("ell_nonlinear", self.ell_nonlinear, self.ell_linear, 1e5, lo_open=True)


QUICK = {"ptcl": 32, "da_lightcone": 0.05, "npix": 64}


def run(config, out: Path) -> dict:
    import matplotlib.pyplot as plt

    from .. import gravity as g
    from ..core import simulate
    from ..core.io import save_figure
    from ..core.progress import show_progress
    from ..gravity import lensing as L

    t0 = time.perf_counter()
    dtype = jnp.float64 if jnp.zeros(()).dtype == jnp.float64 else jnp.float32
    cosmo0 = g.Cosmology(Omega_m=config.Omega_m, sigma8=config.sigma8)
    a_steps, n_lc = L.lightcone_a_steps(config.a_start, config.z_source, config.steps_to_lightcone, config.da_lightcone)
    a_src = 1.0 / (1.0 + config.z_source)
    s = g.PMSolver(box=config.box, ptcl_grid=config.ptcl, mesh=config.mesh_factor * config.ptcl, a_steps=a_steps)
    n_planes = int(np.ceil(float(L.comoving_distance(cosmo0, a_src)) / (config.box / config.planes_per_box)))
    noise = g.white_noise(jax.random.PRNGKey(config.seed), s.ptcl_grid, dtype)
    shift_key = jax.random.PRNGKey(config.seed + 1000)

    def kappa_map(sigma8):
        c = g.Cosmology(Omega_m=config.Omega_m, sigma8=sigma8).tabulate()
        st = simulate(s, s.initial_state(noise, c), c, num_steps=config.steps_to_lightcone).state
        sol = simulate(s, st, c, num_steps=n_lc, save_every=1, progress=show_progress())
        planes = L.lens_planes(s, c, sol.snapshots, config.z_source, config.planes_per_box, key=shift_key,
                               n_planes=n_planes)
        return L.born_convergence(planes, c, config.z_source, config.field_deg, config.npix)

    @jax.jit
    def maps(sigma8):
        # the map and its derivative with respect to sigma8 in one forward-mode pass
        return jax.jvp(kappa_map, (sigma8,), (jnp.ones_like(sigma8),))

    kap, dkap = maps(jnp.asarray(config.sigma8, dtype))
    kap, dkap = np.asarray(kap, np.float64), np.asarray(dkap, np.float64)
    ell, cl, nm = L.angular_power(jnp.asarray(kap), config.field_deg)
    ell, cl = np.asarray(ell), np.asarray(cl)
    # d C_ell / d sigma8 = 2 Re<kappa~* dkappa~> / Omega: the same estimator on the cross term
    _, c_plus, _ = L.angular_power(jnp.asarray(kap + dkap), config.field_deg)
    _, c_minus, _ = L.angular_power(jnp.asarray(kap - dkap), config.field_deg)
    dcl = 0.25 * (np.asarray(c_plus) - np.asarray(c_minus)) * 2.0
    dlncl = dcl / cl * config.sigma8
    limber = jax.jit(lambda e, kind: L.limber_convergence_power(cosmo0, e, config.z_source, kind), static_argnums=1)
    lim = np.asarray(limber(jnp.asarray(ell), "linear"))
    lim_nl = np.asarray(limber(jnp.asarray(ell), "halofit"))
    low = ell < config.ell_linear
    high = (ell >= config.ell_linear) & (ell < config.ell_nonlinear)
    ratio_low = float(np.sum(nm[low] * cl[low] / lim[low]) / np.sum(nm[low]))
    ratio_high = float(np.sum(nm[high] * cl[high] / lim[high]) / np.sum(nm[high]))
    ratio_high_nl = float(np.sum(nm[high] * cl[high] / lim_nl[high]) / np.sum(nm[high]))
    ratio_low_nl = float(np.sum(nm[low] * cl[low] / lim_nl[low]) / np.sum(nm[low]))
    slope_low = float(np.sum(nm[low] * dlncl[low]) / np.sum(nm[low]))
    slope_high = float(np.sum(nm[high] * dlncl[high]) / np.sum(nm[high]))
    wall = time.perf_counter() - t0

    half = 0.5 * config.field_deg
    ext = [-half, half, -half, half]
    fig, axs = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    v = np.max(np.abs(kap))
    im = axs[0].imshow(kap.T, origin="lower", extent=ext, cmap="RdBu_r", vmin=-v, vmax=v)
    fig.colorbar(im, ax=axs[0], shrink=0.85, label="convergence")
    axs[0].set_title(f"kappa, sources at z = {config.z_source:g} (Born, {n_planes} planes)", fontsize=9)
    dv = np.max(np.abs(dkap)) * config.sigma8
    im = axs[1].imshow(dkap.T * config.sigma8, origin="lower", extent=ext, cmap="PuOr_r", vmin=-dv, vmax=dv)
    fig.colorbar(im, ax=axs[1], shrink=0.85, label="d kappa / d ln sigma8")
    axs[1].set_title("its derivative wrt ln sigma8 (forward mode through the run)", fontsize=9)
    for ax in axs:
        ax.set_xlabel("theta_x [deg]")
        ax.set_ylabel("theta_y [deg]")
    save_figure(fig, out / "lensing_kappa.png")

    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ok = np.isfinite(cl) & (cl > 0)
    err = cl * np.sqrt(2.0 / np.maximum(nm, 1))
    ax.fill_between(ell[ok], (cl - err)[ok] * ell[ok] ** 2, (cl + err)[ok] * ell[ok] ** 2, color="C0", alpha=0.25)
    ax.loglog(ell[ok], cl[ok] * ell[ok] ** 2, "C0", label="PM map (band: Gaussian sample variance)")
    lf = np.geomspace(ell[0], ell[-1], 200)
    ax.loglog(lf, np.asarray(limber(jnp.asarray(lf), "linear")) * lf**2, "k--", label="Limber, linear P(k)")
    ax.loglog(lf, np.asarray(limber(jnp.asarray(lf), "halofit")) * lf**2, "k-", lw=1,
              label="Limber, Halofit (Takahashi 2012)")
    ax.set_ylabel("ell^2 C_ell")
    ax.legend(fontsize=8)
    axr.semilogx(ell[ok], dlncl[ok], "C1", label="d ln C / d ln sigma8 (forward mode)")
    axr.semilogx(ell[ok], (cl / lim)[ok], "C0--", lw=1, label="C / Limber(linear)")
    axr.semilogx(ell[ok], (cl / lim_nl)[ok], "C0", lw=1, label="C / Limber(Halofit)")
    axr.axhline(2.0, color="k", lw=0.5, ls=":")
    axr.axhline(1.0, color="k", lw=0.5)
    axr.set_ylim(0, 5)
    axr.set_xlabel("multipole ell")
    axr.legend(fontsize=8)
    save_figure(fig, out / "lensing_power.png")

    return {"kappa_rms": float(np.sqrt(np.mean(kap**2))), "n_planes": n_planes,
            "cl_over_limber_low_ell": ratio_low, "cl_over_limber_high_ell": ratio_high,
            "cl_over_halofit_low_ell": ratio_low_nl, "cl_over_halofit_high_ell": ratio_high_nl,
            "dlncl_dlnsigma8_low_ell": slope_low, "dlncl_dlnsigma8_high_ell": slope_high,
            "steps": int(s.num_steps), "wall_s": wall}
