"""What every node shares: declaring described parameters, finding checkpoints, and running until a signal.

Parameters that configure the core are declared from its config dataclass (``declare_config``): the default, the
description and the range are the field's, so they live in one place and the core's own checks apply.

rclpy's own signal handlers shut the ROS context down at once, after which nothing can be published, so
the safety gate could not send its last zero. ``run`` installs its own SIGINT/SIGTERM handlers instead,
stops spinning, lets each node say goodbye (``on_exit``), and only then shuts ROS down.
"""
from __future__ import annotations

import dataclasses
import signal
import sys
import time
import typing
from pathlib import Path
from typing import Callable, Literal, Sequence

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from rigbot import config


def _descriptor(description: str, kind: type, range: tuple | None, read_only: bool = False,
                choices: tuple | None = None) -> ParameterDescriptor:
    """A parameter's description, its inclusive range for an int or float ``kind`` (a None bound: unbounded), and
    the values a text parameter may take."""
    d = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        d.additional_constraints = "one of " + ", ".join(map(str, choices))
    if range is not None:
        lo, hi = range
        if kind is float:
            d.floating_point_range = [FloatingPointRange(from_value=float("-inf" if lo is None else lo),
                                                         to_value=float("inf" if hi is None else hi), step=0.0)]
        elif kind is int:
            d.integer_range = [IntegerRange(from_value=int(-2**63 if lo is None else lo),
                                            to_value=int(2**63 - 1 if hi is None else hi), step=1)]
    return d


def declare(node: Node, name: str, default, description: str, range: tuple | None = None,
            read_only: bool = False):
    """Declare a parameter with a description (and an inclusive range for numbers); return its value."""
    return node.declare_parameter(name, default, _descriptor(description, type(default), range, read_only)).value


def declare_fields(node: Node, cls: type, skip: Sequence[str] = ()) -> dict:
    """One parameter per field of config dataclass ``cls`` (except ``skip``), with the
    field's default, description and range; returns their values by field name, not yet checked."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        tp, meta = hints[f.name], f.metadata or {}
        literal = typing.get_origin(tp) is Literal
        if tp not in (bool, int, float, str) and not literal:
            raise TypeError(f"{cls.__name__}.{f.name}: a {tp} field cannot be a ROS parameter; skip it")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if tp is float:
            default = float(default)
        d = _descriptor(meta.get("doc", ""), tp, meta.get("range"), choices=typing.get_args(tp) if literal else None)
        values[f.name] = node.declare_parameter(f.name, default, d).value
    return values


def declare_config(node: Node, cls: type, skip: Sequence[str] = ()):
    """``cls`` built from its parameters (``declare_fields``) with rigbot.config's checks, so a value the core
    refuses stops the node with the core's reason; skipped fields keep their defaults."""
    return config.from_dict(cls, declare_fields(node, cls, skip), source=f"{node.get_name()} parameters")


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
    """Run one node in this process until SIGINT or SIGTERM, or until its ``done()`` (if it has one) is true;
    exit status 0, or 2 if it could not start."""
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    with StopSignals() as signals:  # from the start: a stop during start-up still ends in on_exit
        try:
            try:
                node = make_node()
            except (StartupError, ValueError, FileNotFoundError, OSError) as e:
                rclpy.logging.get_logger("rigbot").fatal(f"cannot start: {e}")
                return 2
            spin_until_signal([node], signals, until=getattr(node, "done", None))
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
