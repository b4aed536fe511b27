"""Episodes on a real robot: reset, goal, a step budget, and pausing at any time. A state machine with no ROS in it.

RIG's episodes in the twin start with a teleport; a robot has to drive there. Each episode here:

1. **reset**: the hand is driven to a start pose by velocity commands (a proportional controller, at most
   ``reset_speed``), which pass through the safety gate like the policy's: clamped, kept in the workspace box,
   stopped by an e-stop. The start pose is the robot's home or, with ``start: random``, a point drawn in the
   workspace box (``start_margin`` inside it); only the axes the policy commands are driven.
2. **goal**: an imagined goal (a VAE prior sample, RIG's exploration goal) or a saved goal image from the goal
   library, chosen by ``goal_source``; the caller turns it into a goal (the node sends the image to the goal node,
   which checks and encodes it). Until the goal is accepted the hand is held with zero velocity commands, so the
   command stream never falls silent.
3. **run**: the policy is in charge for ``steps`` of its commands.

A pause (a person asking, or the gate's e-stop) ends the running episode at once as "aborted", takes the policy
out of charge and sends nothing: the gate sends zeros. After ``resume`` (and the e-stop's release) the next
episode begins with a reset. Nothing here moves the arm directly: ``tick`` says what to command and whether
the policy should be in charge, and the node does it. What happens is reported as ``EpisodeEvent``s: the text a
person reads, with its ``kind`` for whoever acts on it (the node publishes both).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rigbot.config import spec

RESET, GOAL, RUN, PAUSED = "reset", "goal", "run", "paused"
EVENT_KINDS = ("started", "complete", "aborted", "paused", "resumed", "reset")
WARNING_KINDS = ("aborted", "paused")  # an episode cut short, or a stop: a person may want to know


class EpisodeEvent(str):
    """An event's text, as a person reads it; ``kind`` is one of EVENT_KINDS."""

    kind: str

    def __new__(cls, kind: str, text: str) -> "EpisodeEvent":
        if kind not in EVENT_KINDS:
            raise ValueError(f"episode event kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
        event = super().__new__(cls, text)
        event.kind = kind
        return event


@dataclass
class EpisodeConfig:
    """One robot episode: how to reset, where goals come from, how long it runs."""

    steps: int = field(default=50, metadata=spec("policy commands per episode (the step budget)", range=(1, 10**6)))
    goal_source: Literal["prior", "library", "mixed"] = field(
        default="prior", metadata=spec("prior: imagined goals (VAE prior samples); library: saved goal images; "
                                       "mixed: library with probability library_fraction"))
    library_fraction: float = field(default=0.5, metadata=spec("mixed: share of library goals", range=(0.0, 1.0)))
    start: Literal["home", "random"] = field(default="home", metadata=spec("start pose: home, or random in the "
                                                                           "workspace box"))
    start_margin: float = field(default=0.03, metadata=spec("random starts keep this far inside the box, m",
                                                            range=(0.0, 1.0)))
    reset_speed: float = field(default=0.1, metadata=spec("largest per-axis reset velocity, m/s", range=(0.001, 2.0)))
    reset_gain: float = field(default=2.0, metadata=spec("reset velocity per metre of error, 1/s", range=(0.01, 100.0)))
    reset_tolerance: float = field(default=0.01, metadata=spec("the start pose is reached within this, m",
                                                               range=(0.0005, 0.5)))
    reset_timeout: float = field(default=20.0, metadata=spec("give up a reset after this long and pause, s",
                                                             range=(0.1, 3600.0)))
    goal_timeout: float = field(default=10.0, metadata=spec("pause when no goal is accepted within this, s",
                                                            range=(0.1, 3600.0)))


def home_pose(home: list[float], robot: Any, workspace_low, workspace_high) -> np.ndarray:
    """The start pose of ``start: home``: ``home`` when it is x, y, z; else the robot or deployment file's
    ``home`` (``robot``: the file's data); else the workspace box's centre."""
    if len(home) == 3:
        return np.asarray(home, float)
    if isinstance(robot, dict) and isinstance(robot.get("home"), list):
        return np.asarray(robot["home"], float)
    return (np.asarray(workspace_low, float) + np.asarray(workspace_high, float)) / 2


def reset_velocity(hand: np.ndarray, target: np.ndarray, axes: list[int], gain: float, max_speed: float) -> np.ndarray:
    """A proportional step towards ``target`` on ``axes`` (others zero), each component within ``max_speed``."""
    v = np.zeros(3)
    v[axes] = np.clip(gain * (np.asarray(target, float)[axes] - np.asarray(hand, float)[axes]), -max_speed, max_speed)
    return v


def episodes_on_robot(cfg: EpisodeConfig, checkpoint, limits_file, home: list[float], rng: np.random.Generator,
                      prior=None, library: list[str] | None = None) -> tuple["EpisodeManager", float]:
    """The episodes of the policy in ``checkpoint`` (a folder or weight store: its policy.yaml gives the axes it
    commands and its control rate) on the robot or deployment ``limits_file`` (its workspace box, and the start
    pose: ``home_pose``); returns the manager and that control rate, Hz. ValueError or OSError says what is wrong."""
    from rigbot import config
    from rigbot.control.safety_gate import limits_from_robot_yaml
    from rigbot.policy.weights.checkpoint import read_policy_config
    from rigbot.policy.weights.weight_store import resolve_checkpoint

    policy_yaml = resolve_checkpoint(checkpoint) / "policy.yaml"
    policy_cfg, _ = read_policy_config(config.read_yaml(policy_yaml), str(policy_yaml))
    limits = limits_from_robot_yaml(limits_file)
    start = home_pose(home, config.read_yaml(limits_file), limits.workspace_low, limits.workspace_high)
    manager = EpisodeManager(cfg, limits.workspace_low, limits.workspace_high, start,
                             list(range(policy_cfg.action_dim)), rng, prior=prior, library=library)
    return manager, float(policy_cfg.control_hz)


@dataclass(frozen=True)
class Tick:
    """What the node does now: send ``command`` (m/s) if it is not None; keep the policy in charge or not;
    set ``goal`` if not None ((kind, value): ('prior', latent) or ('library', name)); report ``events``."""

    command: np.ndarray | None
    policy_in_charge: bool
    goal: tuple | None
    events: tuple[EpisodeEvent, ...]


class EpisodeManager:
    def __init__(self, cfg: EpisodeConfig, workspace_low, workspace_high, home, axes: list[int],
                 rng: np.random.Generator, prior=None, library: list[str] | None = None):
        self.cfg, self.axes, self.rng, self.prior = cfg, list(axes), rng, prior
        self.low, self.high = np.asarray(workspace_low, float), np.asarray(workspace_high, float)
        self.home = np.clip(np.asarray(home, float), self.low, self.high)
        self.library = list(library or [])
        if cfg.goal_source in ("library", "mixed") and not self.library:
            raise ValueError(f"goal_source {cfg.goal_source!r} needs saved goals in the goal library; it is empty")
        if cfg.goal_source in ("prior", "mixed") and prior is None:
            raise ValueError("goal_source 'prior' needs the VAE's latent prior")
        self.phase, self.episode, self.steps = RESET, 0, 0
        self.pause_reasons: set[str] = set()
        self.target = self._start_pose()
        self.phase_since: float | None = None
        self.goal_request: tuple | None = None
        self.goal_key: str | None = None  # what the goal sent is known as in the answers about it (goal_answer)
        self.results: list[str] = []

    # ---- inputs -----------------------------------------------------------------------------------------------
    def pause(self, reason: str) -> list[EpisodeEvent]:
        """Stop at once (a person, or the gate's e-stop); returns the events."""
        events = []
        if self.phase == RUN:
            events.append(self._end("aborted", reason))
        if not self.pause_reasons:
            events.append(EpisodeEvent("paused", f"paused: {reason}"))
        self.pause_reasons.add(reason)
        self.phase = PAUSED
        return events

    def resume(self, reason: str | None = None) -> list[EpisodeEvent]:
        """Lift one pause (``reason``) or all of them; the next episode starts with a reset."""
        if reason is None:
            self.pause_reasons.clear()
        else:
            self.pause_reasons.discard(reason)
        if self.phase == PAUSED and not self.pause_reasons:
            self._enter(RESET)
            return [EpisodeEvent("resumed", "resumed: resetting")]
        return []

    def estop(self, engaged: bool) -> list[EpisodeEvent]:
        """The gate's e-stop is engaged (pause), or not (lift the pause it caused, if any)."""
        if engaged:
            return self.pause("e-stop")
        return self.resume("e-stop") if "e-stop" in self.pause_reasons else []

    def policy_step(self) -> None:
        """One command of the policy was seen while it was in charge."""
        if self.phase == RUN:
            self.steps += 1

    def goal_accepted(self) -> list[EpisodeEvent]:
        if self.phase != GOAL:
            return []
        self._enter(RUN)
        self.episode += 1
        self.steps = 0
        kind, value = self.goal_request
        what = f"saved goal {value!r}" if kind == "library" else "an imagined goal (VAE prior sample)"
        return [EpisodeEvent("started", f"episode {self.episode} started: {what}, {self.cfg.steps} steps")]

    def goal_refused(self, why: str) -> list[EpisodeEvent]:
        return self.pause(f"goal refused: {why}") if self.phase == GOAL else []

    def goal_sent(self, key: str) -> None:
        """The goal a tick asked for went out, known as ``key`` (the node: the stamp of the image it sent)."""
        self.goal_key = key

    def goal_answer(self, key: str | None, error: str) -> list[EpisodeEvent]:
        """An answer about the goal known as ``key``: refused (``error`` says why) or, with no error, accepted.
        Answers about other goals (someone else's, or older ones) are ignored."""
        if self.goal_key is None or key != self.goal_key:
            return []
        self.goal_key = None
        return self.goal_refused(error) if error else self.goal_accepted()

    # ---- the clock ----------------------------------------------------------------------------------------------
    def tick(self, now: float, hand: np.ndarray | None) -> Tick:
        if self.phase_since is None:
            self.phase_since = now
        events: list[EpisodeEvent] = []
        if self.phase == PAUSED:
            return Tick(None, False, None, ())
        if self.phase == RUN:
            if self.steps >= self.cfg.steps:
                events.append(self._end("complete", f"{self.steps} steps"))
                self._enter(RESET, now)
            else:  # zeros until the policy is seen in charge, so the gate never hears silence
                return Tick(np.zeros(3) if self.steps == 0 else None, True, None, ())
        if self.phase == RESET:
            if hand is None:
                return Tick(np.zeros(3), False, None, tuple(events))
            if now - self.phase_since > self.cfg.reset_timeout:
                return Tick(None, False, None, tuple(events + self.pause(
                    f"reset did not reach {np.round(self.target, 3).tolist()} within {self.cfg.reset_timeout:g} s "
                    f"(hand at {np.round(hand, 3).tolist()})")))
            error = np.abs(np.asarray(hand, float)[self.axes] - self.target[self.axes]).max()
            if error > self.cfg.reset_tolerance:
                v = reset_velocity(hand, self.target, self.axes, self.cfg.reset_gain, self.cfg.reset_speed)
                return Tick(v, False, None, tuple(events))
            self._enter(GOAL, now)
            self.goal_request = self._choose_goal()
            events.append(EpisodeEvent("reset", f"reset done at {np.round(hand, 3).tolist()}"))
            return Tick(np.zeros(3), False, self.goal_request, tuple(events))
        # GOAL: hold still until the goal is accepted
        if now - self.phase_since > self.cfg.goal_timeout:
            return Tick(None, False, None, tuple(events + self.pause(
                f"no goal was accepted within {self.cfg.goal_timeout:g} s")))
        return Tick(np.zeros(3), False, None, tuple(events))

    # ---- helpers ------------------------------------------------------------------------------------------------
    def _enter(self, phase: str, now: float | None = None) -> None:
        self.phase, self.phase_since = phase, now
        if phase == RESET:
            self.target = self._start_pose()

    def _end(self, result: str, why: str) -> EpisodeEvent:
        self.results.append(result)
        return EpisodeEvent(result, f"episode {self.episode} {result}: {why}")

    def _start_pose(self) -> np.ndarray:
        if self.cfg.start == "home":
            return self.home.copy()
        m = self.cfg.start_margin
        lo, hi = self.low + m, self.high - m
        if np.any(lo >= hi):
            raise ValueError(f"start_margin {m} m leaves no room in the workspace box {self.low} .. {self.high}")
        target = self.home.copy()
        target[self.axes] = self.rng.uniform(lo[self.axes], hi[self.axes])
        return target

    def _choose_goal(self) -> tuple:
        src = self.cfg.goal_source
        if src == "library" or (src == "mixed" and self.rng.uniform() < self.cfg.library_fraction):
            return ("library", self.library[int(self.rng.integers(len(self.library)))])
        return ("prior", self.prior.sample(1, self.rng)[0].astype(np.float32))
