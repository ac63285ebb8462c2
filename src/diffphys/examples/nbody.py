"""Cosmological PM N-body: 2LPT initial conditions, FastPM steps to a = 1, power spectra vs linear theory.

Default: 64^3 particles on a 128^3 mesh in a (256 Mpc/h)^3 box, 2LPT at a = 1/64, 63 kick-drift-kick
steps. Metrics: CIC mass conservation, total momentum, the low-k power relative to the linear evolution
of the same modes (by default averaged over the pair of simulations from +noise and -noise, which cancels
the realisation-specific second-order term <delta_1 delta_2> that otherwise dominates the scatter of a
single box at low k; Angulo & Pontzen 2016); with ``--x64`` also reversibility of the integration and the
reverse-time adjoint against plain autodiff (on a 16^3 sub-problem).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from ..core.checks import check_choice, check_int, check_range  # noqa: E402

HEADLINE = True


@dataclasses.dataclass
class Config:
    ptcl: int = 64
    mesh_factor: int = 2
    box: float = 256.0
    a_start: float = 1.0 / 64
    a_stop: float = 1.0
    num_steps: int = 63
    Omega_m: float = 0.3
    sigma8: float = 0.8
    gradient: str = "fd4"
    seed: int = 0
    lowk_bins: int = 2
    paired: bool = True
    devices: int = 1                 # split the PM mesh and particles over this many devices (0 = all; see parallel.md)

    def validate(self):
        check_int("ptcl", self.ptcl, lo=4, hi=512)
        check_int("mesh_factor", self.mesh_factor, lo=1, hi=8)
        check_range("box", self.box, 0.0, 1e5, lo_open=True)
        check_range("a_start", self.a_start, 1e-3, 2.0, lo_open=True)
        check_range("a_stop", self.a_stop, 1e-3, 2.0)
        if not self.a_start < self.a_stop:
            raise ValueError(f"a_start must be < a_stop; got a_start={self.a_start}, a_stop={self.a_stop}")
        check_int("num_steps", self.num_steps, lo=1, hi=10000)
        check_range("Omega_m", self.Omega_m, 0.0, 1.0, lo_open=True)
        check_range("sigma8", self.sigma8, 0.0, 3.0, lo_open=True)
        check_choice("gradient", self.gradient, ("spectral", "fd4"))
        check_int("devices", self.devices, lo=0)
        check_int("lowk_bins", self.lowk_bins, lo=1, hi=20)


QUICK = {"ptcl": 32, "num_steps": 32}


def _x64():
    return jnp.zeros(()).dtype == jnp.float64


def run(config, out: Path) -> dict:
    import matplotlib.pyplot as plt

    from .. import gravity as g
    from ..core import simulate
    from ..core.io import save_figure, save_gif
    from ..core.progress import show_progress

    dtype = jnp.float64 if _x64() else jnp.float32
    from ..parallel import split_devices

    s = g.PMSolver(box=config.box, ptcl_grid=config.ptcl, mesh=config.mesh_factor * config.ptcl,
                   a_start=config.a_start, a_stop=config.a_stop, num_steps=config.num_steps,
                   gradient=config.gradient, devices=split_devices(config.devices))
    cosmo = g.Cosmology(Omega_m=config.Omega_m, sigma8=config.sigma8)
    noise = g.white_noise(jax.random.PRNGKey(config.seed), s.ptcl_grid, dtype)
    save_every = max(1, config.num_steps // 8)

    @jax.jit
    def forward(noise):
        c = cosmo.tabulate()
        st0 = s.initial_state(noise, c)
        return simulate(s, st0, c, num_steps=s.num_steps, save_every=save_every, progress=show_progress())

    ts = np.asarray(s.a_steps)[::save_every][: config.num_steps // save_every + 1]

    @jax.jit
    def analyse(noise):
        # everything in one compiled program (eager JAX ops each compile on first use)
        sol = forward(noise)
        c = cosmo.tabulate()
        final = sol.state
        counts = s.paint(final.disp)
        mom = final.mom
        momentum = jnp.linalg.norm(mom.sum(0)) / jnp.sum(jnp.linalg.norm(mom, axis=1))
        modes = g.linear_modes(noise, c, s.box)
        a_snap = jnp.asarray(ts, noise.dtype)
        sim = jax.vmap(lambda st: g.power_spectrum(s.density(st), s.box, deconvolve=True)[1])(sol.snapshots)
        lin = jax.vmap(lambda d: g.modes_power(modes, s.box, s.ptcl_grid, d)[1])(g.D1(c, a_snap))
        proj = jax.vmap(lambda st: g.project(s, st, 2))(sol.snapshots)
        kk = jnp.logspace(np.log10(2 * np.pi / s.box[0]), np.log10(np.pi * s.mesh[0] / s.box[0]), 100)
        # redshift space along z (distant observer): monopole and quadrupole of the final density
        rsd = g.power_multipoles(s.density(g.redshift_space(s, final, c, axis=2)), s.box, axis=2, ells=(0, 2),
                                 deconvolve=True)[1]
        # Kaiser's linear mapping applied to the same run's real-space field: delta_k (1 + f mu^2), same modes
        ks = g.wavevectors(s.mesh, s.box, np.float64, zero_nyquist=False)
        kmag2 = sum(q * q for q in ks)
        mu2 = np.broadcast_to(ks[2], kmag2.shape) ** 2 / np.where(kmag2 > 0, kmag2, 1.0)
        f = g.growth_rate(c, config.a_stop)
        dr = s.density(final)
        dkai = jnp.fft.irfftn(jnp.fft.rfftn(dr) * (1.0 + f * jnp.asarray(mu2, dr.dtype)), s=s.mesh)
        kai = g.power_multipoles(dkai, s.box, axis=2, ells=(0, 2), deconvolve=True)[1]
        return (counts, momentum, sim, lin, proj, kk, g.linear_power(c, kk, config.a_stop), final, modes,
                jnp.stack(rsd), jnp.stack(kai))

    counts, momentum, sim, lin, proj, kk, plin, final, _, rsd, kai = analyse(noise)
    sim1, lin1, rsd, kai = np.asarray(sim), np.asarray(lin), np.asarray(rsd), np.asarray(kai)
    if config.paired:
        # the partner run from -noise: the first- and third-order parts of delta flip sign, the second-order
        # part does not, so the pair average of P(k) has no <delta_1 delta_2> cross term (same compiled program)
        _, _, sim_m, lin_m, *_, rsd_m, kai_m = analyse(-noise)
        sim, lin = 0.5 * (sim1 + np.asarray(sim_m)), 0.5 * (lin1 + np.asarray(lin_m))
        rsd, kai = 0.5 * (rsd + np.asarray(rsd_m)), 0.5 * (kai + np.asarray(kai_m))
    mass_rel_err = float(abs(np.asarray(counts, np.float64).sum() - s.num_particles) / s.num_particles)
    momentum_rel = float(momentum)
    k = g.power_spectrum(jnp.zeros(s.mesh, dtype), s.box)[0]
    kl = g.power_spectrum(jnp.zeros(s.ptcl_grid, dtype), s.box)[0]
    m = min(len(k), len(kl))
    sim, lin, proj = np.asarray(sim), np.asarray(lin), np.asarray(proj)

    fig, (ax, axr) = plt.subplots(2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    colors = plt.cm.viridis(np.linspace(0, 1, len(ts)))
    for i, a in enumerate(ts):
        ratio = sim[i, :m] / lin[i, :m]
        ax.loglog(k, sim[i], color=colors[i], label=f"a = {a:.3f}")
        ax.loglog(kl, lin[i], color=colors[i], ls=":", lw=1)
        axr.semilogx(k[:m], ratio, color=colors[i])
    pk_lowk_rel_err = float(np.max(np.abs(sim[-1, :config.lowk_bins] / lin[-1, :config.lowk_bins] - 1)))
    pk_lowk_single = float(np.max(np.abs(sim1[-1, :config.lowk_bins] / lin1[-1, :config.lowk_bins] - 1)))
    if config.paired:
        axr.semilogx(k[:m], sim1[-1, :m] / lin1[-1, :m], color=colors[-1], ls=":", lw=1,
                     label="a = 1, +noise run alone")
        axr.legend(fontsize=7)
    ax.loglog(kk, plin, "k--", lw=1, label="linear theory (EH98)")
    # Halofit (Takahashi et al. 2012) at a_stop: the nonlinear reference for the final spectrum
    hf = jax.jit(lambda q: g.halofit_power(cosmo.tabulate(), q, config.a_stop))
    ax.loglog(kk, np.asarray(hf(kk)), "k-", lw=0.8, label="Halofit (Takahashi 2012)")
    band = (k >= 0.1) & (k <= 0.3)
    pk_over_halofit = (float(np.mean(sim[-1][band] / np.asarray(hf(jnp.asarray(k[band], dtype)))))
                       if band.any() else float("nan"))
    ax.set_ylabel("P(k) [(Mpc/h)^3]")
    ax.legend(fontsize=7, ncol=2)
    axr.axhline(1, color="k", lw=0.5)
    axr.set_ylim(0.5, 3)
    axr.set_xlabel("k [h/Mpc]")
    axr.set_ylabel("P / P_lin (same modes" + (", pair mean)" if config.paired else ")"))
    from matplotlib.ticker import NullFormatter

    axr.xaxis.set_minor_formatter(NullFormatter())
    save_figure(fig, out / "nbody_power.png")

    # redshift-space multipoles against Kaiser (1987) applied to the same modes of the real-space field
    f = float(g.growth_rate(cosmo.tabulate(), config.a_stop))
    nmodes = np.asarray(g.power_spectrum(jnp.zeros(s.mesh, dtype), s.box)[2])
    sel = k <= 0.1               # mode-weighted: the fundamental bin alone holds 6 modes with mu = 0 or 1 only
    rsd_p0 = float(np.sum(nmodes[sel] * rsd[0][sel]) / np.sum(nmodes[sel] * kai[0][sel])) if sel.any() else np.nan
    rsd_p2 = float(np.sum(nmodes[sel] * rsd[1][sel]) / np.sum(nmodes[sel] * kai[1][sel])) if sel.any() else np.nan
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, name in enumerate(("P_0", "P_2")):
        ax.loglog(k, np.abs(rsd[i]), f"C{i}", label=f"|{name}|, redshift space (N-body)")
        ax.loglog(k, np.abs(kai[i]), f"C{i}--", lw=1, label=f"|{name}|, Kaiser on the same modes (f = {f:.3f})")
    ax.loglog(k, sim[-1], "k:", lw=1, label="P, real space")
    ax.set_xlabel("k [h/Mpc]")
    ax.set_ylabel("P [(Mpc/h)^3]")
    ax.set_title(f"redshift-space distortions along z, a = {config.a_stop}" + (" (pair mean)" if config.paired
                                                                                else ""), fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, out / "nbody_rsd.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(np.log10(1 + proj[-1]), cmap="magma")
    ax.set_title(f"projected density, a = {config.a_stop}")
    ax.set_xticks([])
    ax.set_yticks([])
    save_figure(fig, out / "nbody_density.png")
    frames = []
    for pr in proj:
        pr = np.log10(1 + pr)
        frames.append((np.clip(pr / max(pr.max(), 1e-9), 0, 1) * 255).astype(np.uint8))
    save_gif(frames, out / "nbody_evolution.gif", fps=4)

    metrics = {"mass_rel_err": mass_rel_err, "momentum_rel": momentum_rel, "pk_lowk_rel_err": pk_lowk_rel_err,
               "pk_over_halofit": pk_over_halofit, "rsd_p0_over_kaiser": rsd_p0, "rsd_p2_over_kaiser": rsd_p2,
               "pk_lowk_rel_err_single": pk_lowk_single, "paired": bool(config.paired),
               "devices": 1 if s.devices is None else int(s.devices.size)}
    if _x64():
        # reversibility of the full run
        @jax.jit
        def reversibility(noise, final):
            c = cosmo.tabulate()
            back = jax.lax.scan(lambda x, _: (s.reverse_step(x, c), None), final, None, length=s.num_steps)[0]
            st0 = s.initial_state(noise, c)
            return jnp.max(jnp.abs(back.disp - st0.disp)) / jnp.sqrt(jnp.mean(st0.disp**2))

        metrics["reversibility_rel"] = float(reversibility(noise, final))
        # adjoint vs autodiff on a 16^3 sub-problem
        s2 = g.PMSolver(box=config.box / 4, ptcl_grid=16, mesh=32, a_start=config.a_start, a_stop=config.a_stop,
                        num_steps=min(config.num_steps, 16), gradient=config.gradient)
        n2 = g.white_noise(jax.random.PRNGKey(config.seed + 1), s2.ptcl_grid, dtype)

        def loss(n, cosmo, grad):
            cc = cosmo.tabulate()
            st = simulate(s2, s2.initial_state(n, cc), cc, num_steps=s2.num_steps, gradient=grad).state
            return jnp.sum(g.project(s2, st, 2, (64, 64)) ** 2)

        ga = jax.jit(jax.grad(lambda n, cc: loss(n, cc, "adjoint"), argnums=(0, 1)))(n2, cosmo)
        gs = jax.jit(jax.grad(lambda n, cc: loss(n, cc, "store"), argnums=(0, 1)))(n2, cosmo)
        va = np.concatenate([np.ravel(ga[0]), [float(ga[1].Omega_m), float(ga[1].sigma8)]])
        vs = np.concatenate([np.ravel(gs[0]), [float(gs[1].Omega_m), float(gs[1].sigma8)]])
        metrics["adjoint_vs_ad_rel_rms"] = float(np.sqrt(np.mean((va - vs) ** 2)) / np.sqrt(np.mean(vs**2)))
    return metrics
