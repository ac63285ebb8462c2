"""The lecture's wind bubble set up in jf1uids (as in its wind_parameter_optimization notebook).

Used by the hydro benchmarks; needs the bench environment (jf1uids and astropy installed).
"""

from __future__ import annotations

import jax.numpy as jnp


def make(num_cells=401, backwards=False, num_checkpoints=100, cfl=0.8):
    from astropy import constants as c
    from astropy import units as u
    from jf1uids import (CodeUnits, SimulationConfig, SimulationParams, WindParams, construct_primitive_state,
                         finalize_config,
                         get_registered_variables, time_integration)
    from jf1uids.option_classes import simulation_config as sc
    from jf1uids._physics_modules._stellar_wind.stellar_wind_options import WindConfig

    config = SimulationConfig(
        geometry=sc.SPHERICAL, box_size=1.0, num_cells=num_cells, numerical_precision=sc.DOUBLE_PRECISION,
        fixed_timestep=False, differentiation_mode=sc.BACKWARDS if backwards else sc.FORWARDS,
        num_checkpoints=num_checkpoints,
        wind_config=WindConfig(stellar_wind=True, num_injection_cells=10),
        boundary_settings=sc.BoundarySettings1D(left_boundary=sc.REFLECTIVE_BOUNDARY,
                                                right_boundary=sc.OPEN_BOUNDARY),
    )
    registered = get_registered_variables(config)
    cu = CodeUnits(3 * u.parsec, 1e-4 * u.M_sun, 1 * u.km / u.s)
    t_end = (2.5e4 * u.yr).to(cu.code_time).value
    rho0 = (2 * c.m_p / u.cm ** 3).to(cu.code_density).value
    p0 = (3e4 * u.K / u.cm ** 3 * c.k_B).to(cu.code_pressure).value
    state0 = construct_primitive_state(config=config, registered_variables=registered,
                                       density=jnp.full(num_cells, rho0), velocity_x=jnp.zeros(num_cells),
                                       gas_pressure=jnp.full(num_cells, p0))
    config = finalize_config(config, state0.shape)
    v_true = (2000 * u.km / u.s).to(cu.code_velocity).value
    mdot_true = (2.965e-3 / (1e6 * u.yr) * 40 * u.M_sun).to(cu.code_mass / cu.code_time).value

    def run(v_inf, mdot):
        params = SimulationParams(C_cfl=cfl, dt_max=0.1 * t_end, gamma=5 / 3, t_end=t_end,
                                  wind_params=WindParams(wind_mass_loss_rate=mdot, wind_final_velocity=v_inf))
        return time_integration(state0, config, params, registered)

    return run, (v_true, mdot_true), dict(t_end=t_end, rho0=rho0, p0=p0, config=config, units=cu)
