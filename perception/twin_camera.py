"""The MuJoCo twin's camera behind the camera interface, so code written for a real camera runs on the twin.

It renders the twin's scene as it is when read: whoever steps the environment moves what the camera sees. Reads
render in the caller's thread, not a background one, because the OpenGL context and the simulation state belong
to the thread that steps the environment.
"""
from __future__ import annotations

import time

import gymnasium as gym

from rigbot.perception.camera import Camera, Frame


class TwinCamera(Camera):
    """The camera of a twin task (``'reach'``, ``'push'``), or of an environment someone else steps (``env=``).

    ``env_options`` go to ``rigbot.sim.make`` (e.g. ``image_size=84``). The environment is reset with ``seed``
    when the camera makes its own.
    """

    def __init__(self, task: str | None = None, env: gym.Env | None = None, seed: int = 0, **env_options):
        if (task is None) == (env is None):
            raise ValueError("give a twin task name or an environment, not both and not neither")
        self.task, self.seed, self.env_options = task, seed, env_options
        self._env, self._owns_env = env, env is None
        self._sequence = 0
        self._open = False
        env_name = None if env is None else env.spec.id if env.spec else type(env.unwrapped).__name__
        super().__init__(f"twin:{task or env_name}")

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        if self._open:
            return
        if self._owns_env:
            import rigbot.sim as sim

            self._env = sim.make(self.task, **self.env_options)
            self._env.reset(seed=self.seed)
        self._sequence = 0
        self._open = True

    def read(self, timeout: float = 1.0) -> Frame:
        """The scene now, rendered (``timeout`` is unused: rendering does not wait on anything)."""
        self._require_open()
        twin = self._env.unwrapped
        frame = Frame(twin.render(), time.monotonic(), self._sequence, self.name, float(twin.data.time))
        self._sequence += 1
        return frame

    def _newest(self) -> Frame:
        return self.read()  # the twin's newest picture is the one rendered now

    def close(self) -> None:
        if self._open and self._owns_env:
            self._env.close()
            self._env = None
        self._open = False
