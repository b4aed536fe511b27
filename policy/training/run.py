"""The skeleton every training run shares: RIG's online loop (``rig.RIGTrainer``) and offline HIQL
(``offline.OfflineTrainer``).

A run makes progress in units, environment steps online and gradient updates offline. Before the first unit and
every ``eval_every`` units it evaluates the policy on goal images the twin renders (the same seeds every time)
and adds a row to the learning curve; every ``checkpoint_every`` units it saves a resumable state
(``training_state``: the agent, its optimisers, the random generators, the curve) and the deployable policy
folder. A killed run resumes from its last checkpoint. A trainer supplies how one piece of progress is made
(``_advance``), its counters, and what it keeps beside the agent (``_save_parts``, ``_resume_parts``).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rigbot import config
from rigbot.config import ConfigError
from rigbot.devices import resolve_device
from rigbot.policy.agents import LEARNERS, make_agent
from rigbot.policy.training.curves import write_curve
from rigbot.policy.training.evaluation import evaluate
from rigbot.policy.training.training_state import load_training_state, random_baseline, save_training_state


class Trainer:
    """Set up with a run config (``task``, ``observation``, ``eval_every``, ``eval_episodes``,
    ``checkpoint_every``), an output folder, the agent's view of the twin and the device its networks run on
    (``rigbot.devices``: auto, cpu or cuda; resolved first, so a missing GPU is refused before anything starts);
    the subclass then calls ``_make_agent`` and sets ``timing``. The device is not recorded in the run or the
    policy: either resumes and loads on any device."""

    unit: str  # what progress is counted in, on the progress bar: 'step' or 'update'
    progress_key: str  # that count's name in the curve, progress.yaml and policy.yaml: 'env_steps' or 'updates'

    def __init__(self, cfg, out: str | Path, view, seed: int, progress: bool, env_options: dict | None,
                 device="cpu"):
        self.device = resolve_device(device)
        if cfg.observation != view.kind:
            raise ConfigError(f"observation: {cfg.observation!r} needs a {cfg.observation} view, got {view.kind}")
        self.cfg, self.out, self.view, self.seed, self.progress = cfg, Path(out), view, seed, progress
        self.env_options = {"image_size": 48, **(env_options or {})}
        self.eval_env = self._make_env()
        self.vmax = self.eval_env.unwrapped.robot.max_linear_speed
        self.action_dim = self.eval_env.action_space.shape[0]
        self.rng = np.random.default_rng(seed)
        self.curve: list[dict] = []
        self.timing: dict[str, float] = {}
        self.random_baseline: dict | None = None

    def _make_env(self):
        import rigbot.sim as sim  # MuJoCo: imported by a run, not by reading a run's config

        return sim.make(self.cfg.task, **self.env_options)

    def _make_agent(self, learner: str, agent_cfg, input_mean: np.ndarray, input_std: np.ndarray,
                    training: dict | None = None, **build) -> None:
        """``self.meta`` (what policy.yaml holds; ``training``: more about the run) and a new ``self.agent``
        (``build``: ``make_agent``'s keywords) on ``self.device``, seeded."""
        twin, view = self.eval_env.unwrapped, self.view
        self.meta = {"task": self.cfg.task, "observation": self.cfg.observation, "obs_dim": view.obs_dim,
                     "goal_dim": view.goal_dim, "action_dim": self.action_dim,
                     "max_linear_speed": self.vmax, "control_hz": twin.robot.control_hz,
                     "image_size": twin.cfg.image_size, "learner": learner, learner: config.to_dict(agent_cfg),
                     "training": {"config": config.to_dict(self.cfg), "seed": self.seed, "env": self.env_options,
                                  **(training or {})}}
        # One thread: with two, OpenMP's spinning workers stall whenever another process wants the CPU (measured
        # 1.3 against 17 updates/s on a busy 2-core machine); on a quiet one the second thread gains little.
        torch.set_num_threads(1)
        torch.manual_seed(self.seed)  # seeds the GPU's generator too
        self.agent = make_agent(learner, agent_cfg, view.obs_dim, view.goal_dim, self.action_dim, input_mean,
                                input_std, device=self.device, **build)

    # ---- what a trainer supplies ----------------------------------------------------------------------------------
    @property
    def done(self) -> int:
        """Units of progress made so far."""
        raise NotImplementedError

    @property
    def total(self) -> int:
        """Units of progress the run is to make."""
        raise NotImplementedError

    def _advance(self) -> None:
        """Make some progress (one episode, one update)."""
        raise NotImplementedError

    def _curve_counters(self) -> dict:
        """The counters that start each row of the learning curve."""
        raise NotImplementedError

    def _progress_counters(self) -> dict:
        """The counters saved in progress.yaml (and restored by ``_resume_parts``)."""
        raise NotImplementedError

    def _curve_title(self) -> str:
        raise NotImplementedError

    def _save_parts(self, step_dir: Path) -> None:
        """Write what the trainer keeps beside the agent into checkpoint folder ``step_dir``."""

    def _resume_parts(self, step_dir: Path, progress: dict) -> None:
        """Restore what ``_save_parts`` and ``_progress_counters`` saved."""

    # ---- acting and evaluation -----------------------------------------------------------------------------------
    def act(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The deterministic policy in m/s (for evaluation)."""
        return self.agent.act(state, goal) * self.vmax

    def evaluate(self, episodes: int | None = None, record: int = 0) -> dict:
        t0 = time.perf_counter()
        result = evaluate(self.act, self.eval_env, self.view, episodes or self.cfg.eval_episodes, record=record)
        self.timing["evaluate"] += time.perf_counter() - t0
        return result

    def _log_eval(self, wall: float) -> dict:
        result = self.evaluate()
        row = {**self._curve_counters(), "wall_s": round(wall, 1),
               **{k: v for k, v in result.items() if k not in ("frames", "episodes")}}
        self.curve.append(row)
        write_curve(self.out, self.curve, self.random_baseline, title=self._curve_title(),
                    success_threshold=self.eval_env.unwrapped.cfg.success_threshold, timing=self.timing,
                    x_key=self.progress_key)
        return row

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def save(self) -> Path:
        """The deployable policy and a complete resumable state; the state is made current only once whole."""
        t0 = time.perf_counter()
        progress = {**self._progress_counters(), "rng": self.rng.bit_generator.state, "curve": self.curve,
                    "random_baseline": self.random_baseline, "timing": self.timing}
        self.meta[f"trained_{self.progress_key}"] = self.done
        step_dir = save_training_state(self.out, self.done, self.agent, self.meta, progress, self._save_parts)
        self.timing["checkpoint"] += time.perf_counter() - t0
        return step_dir

    def resume(self) -> bool:
        """Load the latest complete state from ``out/training``; False when there is none."""
        state = load_training_state(self.out, self.meta, self.device)
        if state is None:
            return False
        self.agent, step_dir, progress = state
        self._resume_parts(step_dir, progress)
        self.rng.bit_generator.state = progress["rng"]
        self.curve, self.random_baseline = progress["curve"], progress["random_baseline"]
        self.timing = progress["timing"]
        return True

    # ---- the loop -------------------------------------------------------------------------------------------
    def train(self) -> dict:
        """Run to ``total`` units, evaluating and checkpointing on the way (and at the end); the last curve row.

        With ``stop_at_success`` set, the run ends early, saved, once that many evaluations in a row
        (``stop_evaluations``) reach that success rate: more units would not change what the policy does."""
        cfg = self.cfg
        if self.random_baseline is None:
            self.random_baseline = random_baseline(self.eval_env, self.view, self.seed, cfg.eval_episodes)
        if not self.curve:
            self._log_eval(0.0)
        start_wall = time.perf_counter() - self.curve[-1]["wall_s"]
        next_eval = (self.done // cfg.eval_every + 1) * cfg.eval_every
        next_ckpt = (self.done // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        bar = tqdm(total=self.total, initial=self.done, unit=self.unit,
                   desc=f"{LEARNERS[self.meta['learner']].display} {cfg.task}", disable=not self.progress,
                   dynamic_ncols=True)
        stopped = self.plateaued()  # a resumed run that had stopped stays stopped
        try:
            while self.done < self.total and not stopped:
                before = self.done
                self._advance()
                bar.update(self.done - before)
                if self.done >= next_eval or self.done >= self.total:
                    row = self._log_eval(time.perf_counter() - start_wall)
                    next_eval += cfg.eval_every
                    bar.set_postfix(success=f"{row['success_rate']:.0%}",
                                    hand_cm=f"{100 * row['hand_distance_median']:.1f}")
                    stopped = self.plateaued()
                if self.done >= next_ckpt or self.done >= self.total or stopped:
                    self.save()
                    next_ckpt += cfg.checkpoint_every
        finally:
            bar.close()
        return self.curve[-1]

    def plateaued(self) -> bool:
        """True when the last ``stop_evaluations`` evaluations after the first (of the untrained policy) all reached
        ``stop_at_success``; never without ``stop_at_success``."""
        cfg = self.cfg
        rows = self.curve[1:][-cfg.stop_evaluations:]
        return (cfg.stop_at_success is not None and len(rows) == cfg.stop_evaluations
                and all(r["success_rate"] >= cfg.stop_at_success for r in rows))
