"""Headless rendering: pick a working OpenGL backend (EGL, then OSMesa) and render camera images fast.

MuJoCo reads ``MUJOCO_GL`` once, when it is first imported, and PyOpenGL cannot switch platforms inside a
process. So the backend is probed in a short-lived child process, before this process imports mujoco, and
the winner is written to ``MUJOCO_GL``/``PYOPENGL_PLATFORM`` (children inherit it and skip the probe).
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

HEADLESS_BACKENDS = ("egl", "osmesa")

_PROBE = """
import os, sys
os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = sys.argv[1]
import mujoco
m = mujoco.MjModel.from_xml_string("<mujoco><visual><global offwidth='8' offheight='8'/></visual></mujoco>")
r = mujoco.Renderer(m, 8, 8)
r.update_scene(mujoco.MjData(m))
r.render()
r.close()
"""


class RenderingUnavailable(RuntimeError):
    """No OpenGL backend could render offscreen on this machine."""


def _probe(backend: str) -> str | None:
    """None if ``backend`` renders in a fresh process, else the last line of its error."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, backend], env=env, capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "timed out after 60 s"
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def select_gl_backend(candidates: tuple[str, ...] | None = None) -> str:
    """Make sure mujoco will render; return the backend in use.

    A backend the user set in ``MUJOCO_GL`` is kept as it is (``glfw`` with a display is fine). Otherwise the
    candidates (default: ``RIGBOT_GL_BACKENDS``, comma-separated, else EGL then OSMesa) are tried in order and
    the first that renders is chosen. Raises RenderingUnavailable, naming what each backend said, when none works.
    """
    if candidates is None:
        listed = os.environ.get("RIGBOT_GL_BACKENDS", "")
        candidates = tuple(b.strip() for b in listed.split(",") if b.strip()) or HEADLESS_BACKENDS
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        if chosen in HEADLESS_BACKENDS:
            os.environ.setdefault("PYOPENGL_PLATFORM", chosen)
        return chosen
    if "mujoco" in sys.modules:
        warnings.warn("mujoco was imported before rigbot.sim chose an OpenGL backend; if rendering fails, "
                      "import rigbot.sim first or set MUJOCO_GL=egl (or osmesa)", stacklevel=2)
        return "unknown"
    errors = {}
    for backend in candidates:
        err = _probe(backend)
        if err is None:
            os.environ["MUJOCO_GL"] = os.environ["PYOPENGL_PLATFORM"] = backend
            return backend
        errors[backend] = err
    detail = "; ".join(f"{b}: {e}" for b, e in errors.items())
    raise RenderingUnavailable(
        f"no headless OpenGL backend could render ({detail}). On Debian/Ubuntu install them with "
        "'apt-get install libegl1 libgl1-mesa-dri libosmesa6', or set MUJOCO_GL=glfw on a machine with a display.")


select_gl_backend()

import atexit  # noqa: E402
import weakref  # noqa: E402

import mujoco  # noqa: E402  (after the backend is chosen, on purpose)
import numpy as np  # noqa: E402

_open_renderers: "weakref.WeakSet[CameraRenderer]" = weakref.WeakSet()


@atexit.register
def _close_open_renderers() -> None:
    # Freeing a GL context during interpreter teardown fails noisily (OSMesa), so close them while Python is whole.
    for renderer in list(_open_renderers):
        renderer.close()


class CameraRenderer:
    """Renders one named camera of a model to uint8 RGB images, with the settings that make it fast.

    Shadows and reflections cost far more than pixels at these sizes, so they are off. The same renderer draws
    any MjData of its model: the live episode and the goal scene share it without touching each other.
    """

    def __init__(self, model: mujoco.MjModel, size: int, camera: str):
        if model.vis.global_.offwidth < size or model.vis.global_.offheight < size:
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
            model.vis.global_.offheight = max(model.vis.global_.offheight, size)
        self.camera = camera
        self._renderer = mujoco.Renderer(model, size, size)
        flags = self._renderer.scene.flags
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                     mujoco.mjtRndFlag.mjRND_SKYBOX):
            flags[flag] = 0
        _open_renderers.add(self)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self._renderer.update_scene(data, self.camera)
        return self._renderer.render()  # a fresh array each call

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
