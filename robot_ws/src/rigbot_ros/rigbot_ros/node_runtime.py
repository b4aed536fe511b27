"""What every node shares: declaring described parameters, finding checkpoints, and running until a signal.

rclpy's own signal handlers shut the ROS context down at once, after which nothing can be published, so
the safety gate could not send its last zero. ``run`` installs its own SIGINT/SIGTERM handlers instead,
stops spinning, lets each node say goodbye (``on_exit``), and only then shuts ROS down.
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions


def declare(node: Node, name: str, default, description: str, range: tuple | None = None,
            read_only: bool = False):
    """Declare a parameter with a description (and an inclusive range for numbers); return its value."""
    d = ParameterDescriptor(description=description, read_only=read_only)
    if range is not None:
        lo, hi = range
        if isinstance(default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return node.declare_parameter(name, default, d).value


def vae_dir(checkpoint: str | Path) -> Path:
    """The VAE folder of a policy checkpoint (``CHECKPOINT/vae``), or ``checkpoint`` if it is a VAE folder; of a
    weight store, its current version's. Anything in a store is verified first, file by file against the hashes
    it was published with (``resolve_checkpoint``: the check ``rigbot weights check`` makes)."""
    from rigbot.policy.weights.weight_store import resolve_checkpoint

    if not str(checkpoint):
        raise ValueError("parameter 'checkpoint' is empty: give the folder of a trained checkpoint")
    checkpoint = resolve_checkpoint(checkpoint)
    if (checkpoint / "vae.yaml").is_file():
        return checkpoint
    return checkpoint / "vae"


def load_encoder(checkpoint: str | Path):
    """The encoder of ``checkpoint`` (see ``vae_dir``, which verifies a store's files first)."""
    return load_vae(checkpoint)[0]


def load_vae(checkpoint: str | Path):
    """``(encoder, its folder)`` of ``checkpoint``, resolved and verified once, so that what is loaded from the
    folder (the weights, and vae.yaml's held-out error for the goal check) is all of the one verified version."""
    from rigbot.perception.vae import load_checkpoint

    folder = vae_dir(checkpoint)
    return load_checkpoint(folder), folder


def one_torch_thread() -> None:
    """The models are small: one thread runs them fastest and leaves the other cores to the other nodes."""
    import torch

    torch.set_num_threads(1)


class StartupError(Exception):
    """A node cannot start (bad parameter, missing checkpoint); the message says why."""


class StopSignals:
    """SIGINT and SIGTERM, caught from ``__enter__`` on: ``received`` is the list of those that arrived."""

    def __init__(self):
        self.received: list[int] = []

    def __enter__(self) -> "StopSignals":
        self._old = {s: signal.signal(s, lambda signum, _frame: self.received.append(signum))
                     for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def spin_until_signal(nodes: Sequence[Node], signals: StopSignals, until: Callable[[], bool] | None = None,
                      executor=None) -> None:
    """Spin ``nodes`` until a stop signal arrives or ``until()`` is true."""
    executor = executor or SingleThreadedExecutor()
    for n in nodes:
        executor.add_node(n)
    try:
        while not signals.received and rclpy.ok() and not (until and until()):
            executor.spin_once(timeout_sec=0.05)
    finally:
        for n in nodes:
            executor.remove_node(n)


def run(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Run one node in this process until SIGINT or SIGTERM; exit status 0, or 2 if it could not start."""
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    with StopSignals() as signals:  # from the start: a stop during start-up still ends in on_exit
        try:
            try:
                node = make_node()
            except (StartupError, ValueError, FileNotFoundError, OSError) as e:
                rclpy.logging.get_logger("rigbot").fatal(f"cannot start: {e}")
                return 2
            spin_until_signal([node], signals)
            return 0
        finally:
            if node is not None:
                goodbye = getattr(node, "on_exit", None)
                if goodbye is not None:
                    goodbye()
                node.destroy_node()
            rclpy.try_shutdown()


def linger(node: Node, seconds: float) -> None:
    """Keep serving ``node`` briefly, so reliable messages just published reach their subscribers."""
    end = time.monotonic() + seconds
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
    finally:
        executor.remove_node(node)
