"""A recording that checks each message before writing it, and counts what it wrote and refused. No ROS.

The recorder node (``rigbot_ros.recorder_node``) hands it every message it receives (rclpy's, read by field name);
each topic has one of the checks in ``CHECKS``, the ones the consuming nodes apply, and stamps must be set and no
older than ``max_age`` (nor that far in the future) on arrival, unless the topic is not aged (a latched goal set
minutes ago is still the goal). A message that fails is a ``Refusal``: never written, counted per topic and kind
of problem (its ``kind``: no numbers in it, so counts group), logged (the first of each kind and every 100th),
and its counts go into metadata.yaml's custom_data when the recording closes.
"""
from __future__ import annotations

import math
from typing import Callable

from rigbot.recording.image_messages import BadImageMessage, image_to_latent, image_to_rgb
from rigbot.recording.mcap_folder_writer import McapFolderWriter


class Refusal(ValueError):
    """A message not recorded: ``kind`` names the kind of problem (refusals are counted by it), the text says
    exactly what is wrong."""

    def __init__(self, kind: str, message: str | None = None):
        super().__init__(message or kind)
        self.kind = kind


NOT_FINITE = "NaN or Inf values"


def _finite(*values) -> None:
    if not all(math.isfinite(v) for v in values):
        raise Refusal(NOT_FINITE)


def _decodes(decode, kind: str):
    def check(msg) -> None:
        try:
            decode(msg)
        except BadImageMessage as e:
            raise Refusal(kind, str(e)) from None
    return check


def _twist(msg) -> None:
    lin, ang = msg.twist.linear, msg.twist.angular
    _finite(lin.x, lin.y, lin.z, ang.x, ang.y, ang.z)


def _pose(msg) -> None:
    p, o = msg.pose.position, msg.pose.orientation
    _finite(p.x, p.y, p.z, o.x, o.y, o.z, o.w)


def _joints(msg) -> None:
    if len(msg.position) != len(msg.name):
        raise Refusal("joint names and positions differ in number",
                      f"{len(msg.name)} joint names but {len(msg.position)} positions")
    _finite(*msg.position, *msg.velocity, *msg.effort)


def _camera_info(msg) -> None:
    if msg.width == 0 or msg.height == 0:
        raise Refusal("camera_info of an empty image", f"camera_info of a {msg.width} x {msg.height} image")
    _finite(*msg.k, *msg.d, *msg.p)


# what a message on a topic must look like, by the kind of data it carries
CHECKS: dict[str, Callable] = {
    "image": _decodes(image_to_rgb, "unreadable image"),  # decodes: encoding, size, data length
    "latent": _decodes(image_to_latent, "not a finite latent"),  # a finite 1-row 32FC1 image
    "twist": _twist,
    "pose": _pose,
    "joints": _joints,
    "camera_info": _camera_info,
    "any": lambda msg: None,  # e.g. the episode events, which have no header
}


class CheckedRecording:
    """``writer`` (an McapFolderWriter) behind the checks: ``add_topic`` with a check's name, then ``offer`` each
    message; ``warn(text)`` logs refusals; ``close`` records the refusal counts and closes the writer."""

    def __init__(self, writer: McapFolderWriter, max_age: float, warn: Callable[[str], None] = print):
        self.writer, self.max_age, self.warn = writer, max_age, warn
        self.written: dict[str, int] = {}
        self.refused: dict[tuple[str, str], int] = {}  # (topic, kind) -> count
        self._checks: dict[str, tuple[Callable, bool]] = {}

    def add_topic(self, topic: str, type_name: str, qos: dict, check: str, aged: bool = True) -> None:
        """Record ``topic`` (of ROS type ``type_name``, offered with ``qos``), its messages checked with
        ``CHECKS[check]`` and, if ``aged``, for their age."""
        self.writer.add_topic(topic, type_name, qos)
        self._checks[topic] = (CHECKS[check], aged)
        self.written[topic] = 0

    def offer(self, topic: str, msg, serialize: Callable[[object], bytes], now_ns: int) -> Refusal | None:
        """Write ``msg`` (arrived at ``now_ns``) as ``serialize(msg)``, logged at its arrival and published at its
        header stamp (at arrival if it has no header); or refuse it: the Refusal, counted and logged."""
        check, aged = self._checks[topic]
        stamp = msg.header.stamp if hasattr(msg, "header") else None
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec if stamp is not None else now_ns
        try:
            if stamp_ns == 0:
                raise Refusal("no header stamp", "no header stamp (0)")
            age = (now_ns - stamp_ns) * 1e-9
            if aged and abs(age) > self.max_age:
                raise Refusal("stale", f"stale: stamped {abs(age):.3f} s {'before' if age > 0 else 'after'} "
                                       f"arrival (limit {self.max_age:g} s)")
            check(msg)
        except Refusal as refusal:
            n = self.refused[(topic, refusal.kind)] = self.refused.get((topic, refusal.kind), 0) + 1
            if n == 1 or n % 100 == 0:
                self.warn(f"refused a message on {topic} ({n} so far of this kind), not recorded: {refusal}")
            return refusal
        self.writer.write(topic, serialize(msg), now_ns, stamp_ns)
        self.written[topic] += 1
        return None

    def counts(self) -> dict[str, int]:
        """``written TOPIC`` and ``refused TOPIC: KIND`` -> how many."""
        return {**{f"written {t}": n for t, n in self.written.items()},
                **{f"refused {t}: {k}": n for (t, k), n in self.refused.items()}}

    def summary(self) -> str:
        return (f"{sum(self.written.values())} messages written, {sum(self.refused.values())} refused, "
                f"{len(self.writer.files)} files closed, in {self.writer.folder}")

    def report(self) -> str:
        """The summary, then one line per topic written and per kind of refusal."""
        return self.summary() + "".join(f"\n  {t}: {n} written" for t, n in self.written.items()) + "".join(
            f"\n  {t}: {n} refused ({k})" for (t, k), n in self.refused.items())

    def close(self) -> None:
        for (topic, kind), n in self.refused.items():
            self.writer.set_custom_data(f"refused {topic}: {kind}", n)
        self.writer.close()
