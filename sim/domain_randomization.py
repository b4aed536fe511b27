"""Domain randomisation for sim-to-real: lighting, colours, camera pose jitter and distractor textures.

Off by default. When on, each reset draws a new appearance from the environment's seeded generator, so the
same seed gives the same images. The goal scene is rendered with the episode's appearance. ``appearance: heldout``
starts from one fixed look outside all these ranges instead of the modelled one (``heldout_appearance``): a
stand-in for a real camera when measuring twin-to-robot transfer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rigbot.config import spec
from rigbot.sim.heldout_appearance import apply_heldout
from rigbot.sim.rendering import mujoco

N_DISTRACTOR_TEXTURES = 8


@dataclass
class RandomizationConfig:
    """How much each reset may change the scene's look (all zero-centred, uniform)."""

    enabled: bool = field(default=False, metadata=spec("randomise the appearance at every reset"))
    light: float = field(default=0.4, metadata=spec("relative change of light intensity", range=(0.0, 1.0)))
    light_position: float = field(default=0.3, metadata=spec("light position shift, m", range=(0.0, 2.0)))
    color: float = field(default=0.12, metadata=spec("change of each RGB channel of every colour", range=(0.0, 1.0)))
    camera_position: float = field(default=0.01, metadata=spec("camera shift per axis, m", range=(0.0, 0.2)))
    camera_rotation: float = field(default=1.5, metadata=spec("camera tilt about a random axis, degrees",
                                                              range=(0.0, 20.0)))
    textures: bool = field(default=True, metadata=spec("draw the table's texture from distractor patterns"))
    appearance: Literal["nominal", "heldout"] = field(default="nominal", metadata=spec(
        "the look randomisation starts from: nominal (as modelled) or heldout (one fixed look outside the ranges "
        "above, standing in for a real camera; see sim/heldout_appearance.py)"))
    heldout_seed: int = field(default=2718, metadata=spec("the seed the held-out look is drawn from",
                                                          range=(0, 2**31 - 1)))


def add_distractor_textures(mj_spec: mujoco.MjSpec) -> list[str]:
    """Procedural textures (checkers and gradients in varied colours) the table can wear; returns their names."""
    rng = np.random.default_rng(7)  # fixed: the patterns are part of the scene, not of an episode
    names = []
    for i in range(N_DISTRACTOR_TEXTURES):
        tex = mj_spec.add_texture()
        tex.name = f"rigbot_distractor_{i}"
        tex.type = mujoco.mjtTexture.mjTEXTURE_2D
        tex.builtin = mujoco.mjtBuiltin.mjBUILTIN_CHECKER if i % 2 == 0 else mujoco.mjtBuiltin.mjBUILTIN_GRADIENT
        tex.rgb1 = rng.uniform(0.2, 0.9, 3)
        tex.rgb2 = rng.uniform(0.2, 0.9, 3)
        tex.width = tex.height = 32 if i % 2 == 0 else 64
        tex.random = 0.05 * (i % 3)  # some speckle on a third of them
        tex.markrgb = rng.uniform(0, 1, 3)
        names.append(tex.name)
    return names


class DomainRandomizer:
    """Remembers the model's nominal look and perturbs it in place at each reset."""

    def __init__(self, cfg: RandomizationConfig, model: mujoco.MjModel, camera: str, table_geom: str):
        self.cfg = cfg
        self.model = model
        self.cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        self.table_mat = model.geom_matid[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, table_geom)]
        self.textures = [t for t in range(model.ntex)
                         if (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_TEXTURE, t) or "").startswith("rigbot_distractor_")]
        self.nominal = {name: getattr(model, name).copy() for name in (
            "light_diffuse", "light_pos", "geom_rgba", "mat_rgba", "cam_pos", "cam_quat", "mat_texid")}
        self.nominal_ambient = model.vis.headlight.ambient.copy()

    def restore(self) -> None:
        for name, value in self.nominal.items():
            getattr(self.model, name)[:] = value
        self.model.vis.headlight.ambient[:] = self.nominal_ambient

    def apply(self, rng: np.random.Generator) -> None:
        self.restore()
        if self.cfg.appearance == "heldout":  # fixed: draws nothing from rng, so goals match the nominal look's
            apply_heldout(self.model, self.cfg, self.cam, self.table_mat)
        if not self.cfg.enabled:
            return
        m, c = self.model, self.cfg
        m.light_diffuse[:] = np.clip(m.light_diffuse * (1 + rng.uniform(-c.light, c.light, (m.nlight, 1))), 0, 1)
        m.light_pos[:] += rng.uniform(-c.light_position, c.light_position, m.light_pos.shape)
        m.vis.headlight.ambient[:] = np.clip(m.vis.headlight.ambient * (1 + rng.uniform(-c.light, c.light)), 0, 1)
        # A geom with a material takes its colour from the material unless its own rgba is changed; so only
        # geoms without one get their rgba perturbed, the rest through their material.
        plain = m.geom_matid < 0
        m.geom_rgba[plain, :3] = np.clip(m.geom_rgba[plain, :3] + rng.uniform(-c.color, c.color, (plain.sum(), 3)), 0, 1)
        m.mat_rgba[:, :3] = np.clip(m.mat_rgba[:, :3] + rng.uniform(-c.color, c.color, (m.nmat, 3)), 0, 1)
        m.cam_pos[self.cam] += rng.uniform(-c.camera_position, c.camera_position, 3)
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = np.deg2rad(rng.uniform(-c.camera_rotation, c.camera_rotation))
        tilt = np.zeros(4)
        mujoco.mju_axisAngle2Quat(tilt, axis, angle)
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, tilt, m.cam_quat[self.cam].copy())
        m.cam_quat[self.cam] = quat
        if c.textures and self.textures and self.table_mat >= 0:
            choice = rng.integers(len(self.textures) + 1)  # the last choice keeps the nominal texture
            if choice < len(self.textures):
                m.mat_texid[self.table_mat, :] = -1
                m.mat_texid[self.table_mat, mujoco.mjtTextureRole.mjTEXROLE_RGB] = self.textures[choice]
