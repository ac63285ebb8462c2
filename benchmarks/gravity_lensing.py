"""Weak-lensing benchmark: diffphys.gravity.lensing vs JaxPM's lensing (``density_plane``, ``convergence_Born``) in
one process on the same machine, the same particles and the same geometry.

Both codes get one PM snapshot's particles (64^3 on a 128^3 mesh, 256 Mpc/h, a = 0.7 by default) and cut the
light cone to z = 1 into shells a quarter of the box thick, then sum the Born convergence on a 5-degree field.
Measured: the lens planes from the particles (ours: CIC along the line of sight too, the snapshot moved to each
shell's a; JaxPM: a sharp slab selection), the Born sum from the same planes (agreement of the two maps and time),
and reverse-mode gradients of a scalar of the map with respect to the particle positions through both stages.

Run with a venv holding jaxpm and jax_cosmo:
    PYTHONPATH=src /work/venvs/jaxpm/bin/python benchmarks/gravity_lensing.py [--quick]
Writes benchmarks/results/gravity_lensing.json.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("DIFFPHYS_PROGRESS", "0")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _timing import machine, now, results_path, warm_times  # noqa: E402
from diffphys import gravity as g  # noqa: E402
from diffphys.gravity import lensing as L  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    import jax_cosmo as jc
    from jaxpm.lensing import convergence_Born, density_plane

    ptcl, box, ppb, zs, fov = (32, 256.0, 4, 1.0, 5.0) if args.quick else (64, 256.0, 4, 1.0, 5.0)
    reps = 3 if args.quick else 5
    mesh = 2 * ptcl
    npix_list = (64,) if args.quick else (128, 512)
    s = g.PMSolver(box=box, ptcl_grid=ptcl, mesh=mesh, a_start=0.1, a_stop=0.7, num_steps=10)
    cosmo = g.Cosmology().tabulate()
    noise = g.white_noise(jax.random.PRNGKey(0), s.ptcl_grid)
    from diffphys.core import simulate

    st = jax.jit(lambda n: simulate(s, s.initial_state(n, cosmo), cosmo, num_steps=s.num_steps).state)(noise)
    snaps = jax.tree.map(lambda x: x[None], st)
    width = box / ppb
    n_planes = int(np.ceil(float(L.comoving_distance(cosmo, 1 / (1 + zs))) / width))
    chi = (np.arange(n_planes) + 0.5) * width
    a_pl = np.asarray(L.a_of_chi(cosmo, chi))
    def jcos():  # a fresh object per trace: jax_cosmo caches its distance table inside the cosmology
        return jc.Cosmology(Omega_c=0.25, Omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8, Omega_k=0.0, w0=-1.0, wa=0.0)

    res = {"machine": machine(), "date": now(), "particles": f"{ptcl}^3", "mesh": f"{mesh}^3", "box": box,
           "n_planes": n_planes, "field_deg": fov, "z_source": zs, "cases": {}}

    # ---- planes from particles --------------------------------------------------------------------------------
    def ours_planes(disp):
        return L.lens_planes(s, cosmo, g.PMState(disp=disp, mom=snaps.mom, acc=snaps.acc, a=snaps.a), zs, ppb,
                             n_planes=n_planes).density

    def jaxpm_planes(disp):
        pos = (s.lattice(disp.dtype) + disp[0]) / (box / mesh)        # mesh units, as JaxPM's particles
        d = jnp.mod(pos[:, 2], mesh)
        out = []
        for j in range(n_planes):
            c = ((j % ppb) + 0.5) * mesh / ppb
            out.append(density_plane(jnp.concatenate([pos[:, :2], d[:, None]], 1), (mesh, mesh, mesh), c,
                                     mesh / ppb, mesh))
        return jnp.stack(out)

    t_ours = warm_times(jax.jit(ours_planes), snaps.disp, reps=reps)
    t_pm = warm_times(jax.jit(jaxpm_planes), snaps.disp, reps=reps)
    res["planes_s"] = {"diffphys": float(np.median(t_ours)), "jaxpm": float(np.median(t_pm)),
                       "ratio": float(np.median(t_ours) / np.median(t_pm))}
    dens = jax.jit(ours_planes)(snaps.disp)
    pm_dens = jax.jit(jaxpm_planes)(snaps.disp)
    # same normalisation: JaxPM's plane is particles per (cell area x width in cells); ours is the overdensity
    nbar = s.num_particles / mesh**3
    pm_delta = pm_dens / nbar - 1.0
    res["planes_rel_rms_diff"] = float(jnp.sqrt(jnp.mean((pm_delta - dens) ** 2) / jnp.mean(dens**2)))

    # ---- Born sum from the same planes ------------------------------------------------------------------------
    planes = L.LensPlanes(density=dens, chi=jnp.asarray(chi, dens.dtype), a=jnp.asarray(a_pl, dens.dtype),
                          width=width, extent=(box, box))
    for npix in npix_list:
        def ours_born(d, npix=npix):
            p = L.LensPlanes(density=d, chi=planes.chi, a=planes.a, width=width, extent=(box, box))
            return L.born_convergence(p, cosmo, zs, fov, npix, center=(0.0, 0.0))

        t = ((np.arange(npix) + 0.5) / npix - 0.5) * np.radians(fov)
        coords = jnp.asarray(np.stack(np.meshgrid(t, t, indexing="ij"), 0), dens.dtype)   # (2, npix, npix)

        def jaxpm_born(d, coords=coords):
            entries = [{"r": float(chi[j]), "a": float(a_pl[j]), "plane": d[j], "dx": box / mesh, "dz": width}
                       for j in range(n_planes)]
            return convergence_Born(jcos(), entries, coords, jnp.asarray([zs]))[0]

        k1 = jax.jit(ours_born)(dens)
        k2 = jax.jit(jaxpm_born)(dens)
        w = jax.random.normal(jax.random.PRNGKey(1), (npix, npix), dens.dtype)
        case = {"map_rel_rms_diff": float(jnp.sqrt(jnp.mean((k1 - k2) ** 2) / jnp.mean(k1**2)))}
        for name in ("born", "grad"):
            if name == "born":
                a_, b_ = jax.jit(ours_born), jax.jit(jaxpm_born)
            else:
                a_ = jax.jit(jax.grad(lambda d, w=w, f=ours_born: jnp.sum(f(d) * w)))
                b_ = jax.jit(jax.grad(lambda d, w=w, f=jaxpm_born: jnp.sum(f(d) * w)))
            ta, tb = warm_times(a_, dens, reps=reps), warm_times(b_, dens, reps=reps)
            case[f"{name}_s"] = {"diffphys": float(np.median(ta)), "jaxpm": float(np.median(tb)),
                                 "ratio": float(np.median(ta) / np.median(tb))}
        res["cases"][f"npix={npix}"] = case
        print(f"npix {npix}: {case}", flush=True)

    # ---- end to end: particles -> planes -> map, and its gradient wrt the particles -------------------------------
    npix = npix_list[0]
    t = ((np.arange(npix) + 0.5) / npix - 0.5) * np.radians(fov)
    coords = jnp.asarray(np.stack(np.meshgrid(t, t, indexing="ij"), 0), jnp.float32)
    w = jax.random.normal(jax.random.PRNGKey(2), (npix, npix))

    def ours_full(disp):
        p = L.LensPlanes(density=ours_planes(disp), chi=planes.chi, a=planes.a, width=width, extent=(box, box))
        return jnp.sum(L.born_convergence(p, cosmo, zs, fov, npix, center=(0.0, 0.0)) * w)

    def jaxpm_full(disp):
        d = jaxpm_planes(disp) / nbar - 1.0
        entries = [{"r": float(chi[j]), "a": float(a_pl[j]), "plane": d[j], "dx": box / mesh, "dz": width}
                   for j in range(n_planes)]
        return jnp.sum(convergence_Born(jcos(), entries, coords, jnp.asarray([zs]))[0] * w)

    ta = warm_times(jax.jit(jax.value_and_grad(ours_full)), snaps.disp, reps=reps)
    tb = warm_times(jax.jit(jax.value_and_grad(jaxpm_full)), snaps.disp, reps=reps)
    res["end_to_end_value_and_grad_s"] = {"diffphys": float(np.median(ta)), "jaxpm": float(np.median(tb)),
                                          "ratio": float(np.median(ta) / np.median(tb))}
    print(json.dumps(res, indent=1))
    with open(results_path("gravity_lensing" + ("_quick" if args.quick else "")), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
