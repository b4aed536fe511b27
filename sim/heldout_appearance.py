"""A held-out look of the twin: a stand-in for the real camera in twin-to-robot transfer experiments.

Domain randomisation trains on looks drawn from zero-centred ranges around the modelled scene
(``RandomizationConfig``). A real camera shows one look the training never drew exactly. This module makes such a
look in the twin: one fixed appearance, drawn once from its own seed (``heldout_seed``), with every change
*outside* the training ranges (between ``OUTSIDE_LOW`` and ``OUTSIDE_HIGH`` times each range's half-width, with a
random sign) and a table texture that is not among the training's distractor patterns. The same goals render
in the modelled, randomised and held-out looks, so a policy can be scored on the same episodes in each.
"""
from __future__ import annotations

import numpy as np

from rigbot.sim.rendering import mujoco

HELDOUT_TEXTURE = "rigbot_heldout_table"
OUTSIDE_LOW, OUTSIDE_HIGH = 2.0, 3.0  # multiples of the training ranges' half-widths


def add_heldout_texture(mj_spec: mujoco.MjSpec, seed: int) -> str:
    """A table pattern of the held-out look: wavy grain stripes, a kind the distractors (checkers, gradients)
    never show."""
    rng = np.random.default_rng([seed, 1])
    size = 128
    y, x = np.mgrid[0:size, 0:size] / size
    grain = np.sin(2 * np.pi * (rng.uniform(5, 8) * y + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * x)))
    light, dark = rng.uniform(0.45, 0.8, 3), rng.uniform(0.2, 0.5, 3)
    t = (0.5 + 0.5 * grain)[..., None] + rng.normal(0, 0.08, (size, size, 1))
    rgb = np.clip(dark + (light - dark) * t, 0, 1)
    tex = mj_spec.add_texture()
    tex.name = HELDOUT_TEXTURE
    tex.type = mujoco.mjtTexture.mjTEXTURE_2D
    tex.width = tex.height = size
    tex.nchannel = 3
    tex.data = (rgb * 255).astype(np.uint8).tobytes()
    return tex.name


def _outside(rng: np.random.Generator, half_width: float, shape=()) -> np.ndarray:
    """Offsets whose magnitude lies beyond the training range (``half_width``), with random signs."""
    magnitude = rng.uniform(OUTSIDE_LOW, OUTSIDE_HIGH, shape) * half_width
    return magnitude * rng.choice([-1.0, 1.0], shape)


def apply_heldout(model: mujoco.MjModel, cfg, camera: int, table_material: int) -> None:
    """Change ``model`` (at its nominal look) in place into the held-out look; ``cfg`` is a RandomizationConfig
    whose ranges the look lies outside of. Deterministic: the look depends on ``cfg.heldout_seed`` only."""
    rng = np.random.default_rng([cfg.heldout_seed, 0])
    m = model
    m.light_diffuse[:] = np.clip(m.light_diffuse * (1 + _outside(rng, cfg.light, (m.nlight, 1))), 0.05, 1)
    m.light_pos[:] += _outside(rng, cfg.light_position, m.light_pos.shape)
    m.vis.headlight.ambient[:] = np.clip(m.vis.headlight.ambient * (1 + _outside(rng, cfg.light)), 0, 1)
    plain = m.geom_matid < 0  # geoms with a material take their colour from it (see DomainRandomizer.apply)
    m.geom_rgba[plain, :3] = np.clip(m.geom_rgba[plain, :3] + _outside(rng, cfg.color, (plain.sum(), 3)), 0, 1)
    m.mat_rgba[:, :3] = np.clip(m.mat_rgba[:, :3] + _outside(rng, cfg.color, (m.nmat, 3)), 0, 1)
    m.cam_pos[camera] += _outside(rng, cfg.camera_position, 3)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    tilt, quat = np.zeros(4), np.zeros(4)
    mujoco.mju_axisAngle2Quat(tilt, axis, float(np.deg2rad(_outside(rng, cfg.camera_rotation))))
    mujoco.mju_mulQuat(quat, tilt, m.cam_quat[camera].copy())
    m.cam_quat[camera] = quat
    tex = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_TEXTURE, HELDOUT_TEXTURE)
    if tex >= 0 and table_material >= 0:
        m.mat_texid[table_material, :] = -1
        m.mat_texid[table_material, mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex
