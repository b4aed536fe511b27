"""End-effector Cartesian velocity control for any arm with joint position servos.

The twin receives the same command as the real robot: a linear hand velocity in m/s (the linear part of a
``geometry_msgs/TwistStamped``). Each control period the velocity is clipped per axis, integrated into a hand
target that is kept inside the workspace box, turned into joint targets by damped least-squares inverse
kinematics (holding the tool axis), and the physics runs until the next command.
"""
from __future__ import annotations

import numpy as np

from rigbot.sim.rendering import mujoco
from rigbot.sim.robot import RobotConfig

_IK_DAMPING = 1e-2      # damped least squares lambda: keeps steps sane near singularities
_ORIENTATION_WEIGHT = 0.3  # tool-axis error (rad) traded against position error (m)
_PLACE_TOLERANCE = 1e-3    # m: a teleport from the caller's seed that lands further than this walks from home
_WALK_STEP = 0.02          # m between IK solves on the walk from home
_MAX_WALK_SOLVES = 200     # at most this many solves per walk (4 m at 2 cm): a far target costs bounded time


class CartesianVelocityController:
    def __init__(self, model: mujoco.MjModel, cfg: RobotConfig):
        self.model = model
        self.cfg = cfg
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, cfg.end_effector_site)
        jids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in cfg.joints]
        self.qadr = np.array([model.jnt_qposadr[j] for j in jids])
        self.dadr = np.array([model.jnt_dofadr[j] for j in jids])
        self.act = np.array([next(a for a in range(model.nu) if model.actuator_trntype[a] == int(mujoco.mjtTrn.mjTRN_JOINT)
                                  and model.actuator_trnid[a, 0] == j) for j in jids])
        limited = np.array([model.jnt_limited[j] for j in jids], bool)
        rng = np.array([model.jnt_range[j] for j in jids])
        self.q_low = np.where(limited, rng[:, 0], -np.inf)
        self.q_high = np.where(limited, rng[:, 1], np.inf)
        self.dt = 1.0 / cfg.control_hz
        self.n_substeps = max(1, int(round(self.dt / model.opt.timestep)))
        self.tool_axis = None if cfg.tool_axis is None else np.asarray(cfg.tool_axis) / np.linalg.norm(cfg.tool_axis)
        if self.tool_axis is not None:  # two directions perpendicular to the tool axis
            self._tilt_basis = np.linalg.svd(np.outer(self.tool_axis, self.tool_axis))[2][1:]
        self.max_speed = cfg.max_linear_speed
        self.reference: np.ndarray | None = None  # the hand position being tracked
        self._home_q: np.ndarray | None = None  # joints with the hand at home, found on first use
        self._scratch = mujoco.MjData(model)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def hand_position(self, data: mujoco.MjData) -> np.ndarray:
        return data.site_xpos[self.site].copy()

    def joint_positions(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.qadr].copy()

    def _dls_step(self, data: mujoco.MjData, target: np.ndarray) -> tuple[np.ndarray, float]:
        """One damped least-squares step of the arm's joints towards ``target`` (and the tool axis).

        ``data`` must hold current kinematics (mj_kinematics + mj_comPos). Returns (dq, position error in m).
        """
        err = target - data.site_xpos[self.site]
        mujoco.mj_jacSite(self.model, data, self._jacp, self._jacr, self.site)
        jac, e = self._jacp[:, self.dadr], err
        if self.tool_axis is not None:
            # Only tilts of the tool axis are errors; a spin about it is free (rows along the axis are left out).
            z = data.site_xmat[self.site].reshape(3, 3)[:, 2]
            tilt = self._tilt_basis
            jac = np.vstack([jac, _ORIENTATION_WEIGHT * tilt @ self._jacr[:, self.dadr]])
            a = self.tool_axis
            z_cross_a = np.array([z[1] * a[2] - z[2] * a[1], z[2] * a[0] - z[0] * a[2], z[0] * a[1] - z[1] * a[0]])
            e = np.concatenate([err, _ORIENTATION_WEIGHT * tilt @ z_cross_a])
        dq = jac.T @ np.linalg.solve(jac @ jac.T + _IK_DAMPING**2 * np.eye(len(e)), e)
        return dq, float(np.sqrt(err @ err))

    def solve_ik(self, data: mujoco.MjData, target: np.ndarray, q_start: np.ndarray | None = None,
                 iterations: int = 100, tol: float = 1e-5) -> tuple[np.ndarray, float]:
        """Joint angles that put the hand at ``target`` (and the tool axis on its direction); also the residual (m).

        Works on a scratch copy, so ``data`` is never disturbed.
        """
        m, s = self.model, self._scratch
        s.qpos[:] = data.qpos
        if q_start is not None:
            s.qpos[self.qadr] = q_start
        for _ in range(iterations):
            mujoco.mj_kinematics(m, s)
            mujoco.mj_comPos(m, s)
            dq, err = self._dls_step(s, target)
            if err < tol and np.linalg.norm(dq) < 1e-6:
                break
            s.qpos[self.qadr] = np.clip(s.qpos[self.qadr] + dq, self.q_low, self.q_high)
        mujoco.mj_kinematics(m, s)
        return s.qpos[self.qadr].copy(), float(np.linalg.norm(target - s.site_xpos[self.site]))

    def _walk_from_home(self, data: mujoco.MjData, hand: np.ndarray) -> tuple[np.ndarray, float]:
        """IK along the straight line from the home hand position: the arm ends in the posture it would reach by
        moving there under velocity control, the same branch (elbow, wrist) every time."""
        if self._home_q is None:
            seed = np.zeros(len(self.qadr)) if self.cfg.ik_seed is None else np.asarray(self.cfg.ik_seed, float)
            self._home_q = self.solve_ik(data, np.asarray(self.cfg.home, float), q_start=seed)[0]
        home = np.asarray(self.cfg.home, float)
        distance = float(np.linalg.norm(hand - home))
        if not np.isfinite(distance):
            raise ValueError(f"hand target must be 3 finite numbers (m), got {hand.tolist()}")
        # Longer walks than _MAX_WALK_SOLVES steps take longer steps: a workspace is a metre or two at most, and a
        # target beyond reach ends where IK stops, with its residual.
        q, n = self._home_q, min(_MAX_WALK_SOLVES, max(1, int(np.ceil(distance / _WALK_STEP))))
        for k in range(1, n + 1):
            q, residual = self.solve_ik(data, home + (hand - home) * k / n, q_start=q)
        return q, residual

    def place(self, data: mujoco.MjData, hand: np.ndarray, seed: np.ndarray | None = None) -> float:
        """Put the arm at rest with its hand at ``hand`` (teleport, for resets and goal scenes); returns residual.

        Without a seed (or when IK from the seed misses) the arm walks there from home: damped least squares from
        one fixed pose fell into local minima for 43 % of random table-top targets, 6-34 cm away, and a
        random restart would land in other postures (elbow up or down) that look different to the camera.
        """
        hand = np.asarray(hand, float)
        residual = np.inf
        if seed is not None:
            q, residual = self.solve_ik(data, hand, q_start=np.asarray(seed, float))
        if residual > _PLACE_TOLERANCE:
            q, residual = self._walk_from_home(data, hand)
        data.qpos[self.qadr] = q
        data.qvel[self.dadr] = 0.0
        data.ctrl[self.act] = q
        mujoco.mj_forward(self.model, data)
        return residual

    def reset(self, data: mujoco.MjData) -> None:
        """Start tracking from where the hand is now (after a reset or a teleport of the live scene)."""
        self.reference = self.hand_position(data)

    def target_for(self, data: mujoco.MjData, velocity: np.ndarray, hold: dict[int, float] | None = None) -> np.ndarray:
        """Where the hand should be one control period from now: clipped speed, inside the workspace.

        The reference is integrated from the previous reference, not from the measured hand, so a servo that lags
        still moves at the commanded speed; it may lead the hand by at most two periods at full speed, so a hand
        that is blocked does not wind the reference up.
        """
        v = np.asarray(velocity, float)
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise ValueError(f"velocity must be 3 finite numbers (m/s), got {velocity!r}")
        v = np.clip(v, -self.max_speed, self.max_speed)
        hand = self.hand_position(data)
        if self.reference is None:
            self.reference = hand
        lead = 2 * self.max_speed * self.dt
        target = np.clip(self.reference + v * self.dt, hand - lead, hand + lead)
        for axis, value in (hold or {}).items():
            target[axis] = value
        self.reference = self.cfg.workspace.clip(target)
        return self.reference.copy()

    def step(self, data: mujoco.MjData, velocity: np.ndarray, hold: dict[int, float] | None = None) -> None:
        """Apply one velocity command (m/s, world frame) for one control period."""
        target = self.target_for(data, velocity, hold)
        # One DLS step per period is enough: targets are at most a few cm from the hand, and each period starts
        # again from the measured joints.
        dq, _ = self._dls_step(data, target)
        data.ctrl[self.act] = np.clip(data.qpos[self.qadr] + dq, self.q_low, self.q_high)
        mujoco.mj_step(self.model, data, nstep=self.n_substeps)
        # mj_step leaves positions one substep old; refresh them for the observation and the next Jacobian.
        mujoco.mj_kinematics(self.model, data)
        mujoco.mj_comPos(self.model, data)
