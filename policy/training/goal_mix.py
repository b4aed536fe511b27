"""Goal sampling as data: named fractions of where a sampled transition's goal comes from.

RIG's relabelling (``replay_buffer.RelabelConfig``: rollout, prior, future) and HIQL's value goals
(``offline.ValueGoalConfig``: current, future, random) are both a mix of named sources in fixed proportions.
A ``GoalMix`` checks the fractions once and draws one source per transition; callers ask for a source by name.
"""
from __future__ import annotations

import numpy as np

from rigbot.config import ConfigError


class GoalMix:
    """Fractions of named goal sources, summing to 1; ``what`` names the mix in errors (e.g. 'relabel')."""

    def __init__(self, what: str, **fractions: float):
        total = sum(fractions.values())
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"{what} fractions {' + '.join(fractions)} must sum to 1, they sum to {total:g}")
        self.names = tuple(fractions)
        self.fractions = list(fractions.values())

    def draw(self, n: int, rng: np.random.Generator) -> "Sources":
        """The source of each of ``n`` transitions (one ``rng.choice`` over the sources, in their order)."""
        return Sources(self.names, rng.choice(len(self.names), size=n, p=self.fractions))


class Sources:
    """Drawn sources: ``sources['future']`` is the boolean mask of the transitions whose goal comes from there."""

    def __init__(self, names: tuple[str, ...], index: np.ndarray):
        self.names, self.index = names, index

    def __getitem__(self, name: str) -> np.ndarray:
        return self.index == self.names.index(name)
