"""recorder node: writes the robot's topics to rolling MCAP files (rosbag2's format; rigbot.recording).

in:  by default every topic a run produces: camera image + camera_info, latent, goal image, policy command,
     gated arm command, hand pose, joint states, episode events (parameter ``topics`` picks a subset; remap to
     record others)
out: ~/status (diagnostic_msgs/DiagnosticStatus, every second: messages written and refused, current file)
     files in ``out``: DIR_0.mcap, DIR_1.mcap, ... and metadata.yaml (``ros2 bag play DIR`` plays them)

Each message is checked before it is written, with the checks the consuming nodes apply: images must decode
(encoding, size, data length), latents must be finite 1-row 32FC1 images, commands and poses finite, and stamps
set and no older than ``max_age`` (nor that far in the future) on arrival. A message that fails is refused:
counted per topic and reason, logged, reported on ~/status and in metadata.yaml's custom_data, and never written
as good data. Latched goal images are not checked for age: a goal set minutes ago is still the goal.

Each message is stored as received (CDR bytes, its header untouched), with log time = arrival on this node's
clock and publish time = its header stamp. Files roll over by size and time; a kill loses at most the last
chunk (``chunk_kb`` / ``flush_seconds``): see rigbot.recording.mcap_folder_writer.
"""
from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image, JointState

from rigbot.recording import McapFolderWriter, RecordingConfig
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import StartupError, declare, declare_config, run


# ---- what each topic must look like ---------------------------------------------------------------------------
def _finite(*values) -> None:
    if not all(math.isfinite(v) for v in values):
        raise conv.BadMessageError("NaN or Inf values")


def _check_image(msg: Image) -> None:
    conv.image_to_rgb(msg)


def _check_latent(msg: Image) -> None:
    conv.image_to_latent(msg)


def _check_twist(msg: TwistStamped) -> None:
    lin, ang = conv.twist_arrays(msg)
    _finite(*lin, *ang)


def _check_pose(msg: PoseStamped) -> None:
    p, o = msg.pose.position, msg.pose.orientation
    _finite(p.x, p.y, p.z, o.x, o.y, o.z, o.w)


def _check_joints(msg: JointState) -> None:
    if len(msg.position) != len(msg.name):
        raise conv.BadMessageError(f"{len(msg.name)} joint names but {len(msg.position)} positions")
    _finite(*msg.position, *msg.velocity, *msg.effort)


def _check_camera_info(msg: CameraInfo) -> None:
    if msg.width == 0 or msg.height == 0:
        raise conv.BadMessageError(f"camera_info of a {msg.width} x {msg.height} image")
    _finite(*msg.k, *msg.d, *msg.p)


def _queue(offered: QoSProfile) -> QoSProfile:
    """The subscription for a topic offered with ``offered``: a queue of 10, not the consumers' 1 (a recorder must
    not drop what it can keep), except for latched topics, whose one message is all there is."""
    latched = offered.durability == topics.LATCHED.durability
    return QoSProfile(depth=1 if latched else 10, history=offered.history, reliability=offered.reliability,
                      durability=offered.durability)


def _metadata(offered: QoSProfile) -> dict:
    """``offered`` as rosbag2's metadata.yaml states a topic's offered QoS (for playback)."""
    return {"reliability": offered.reliability.name.lower(), "durability": offered.durability.name.lower(),
            "depth": offered.depth}


# topic -> (message class, check, the QoS its publisher offers (topics.py's), check the age?)
RECORDABLE = {
    topics.IMAGE: (Image, _check_image, topics.SENSOR, True),
    topics.CAMERA_INFO: (CameraInfo, _check_camera_info, topics.SENSOR, True),
    topics.LATENT: (Image, _check_latent, topics.SENSOR, True),
    topics.GOAL_IMAGE: (Image, _check_image, topics.LATCHED, False),
    topics.POLICY_COMMAND: (TwistStamped, _check_twist, topics.COMMAND, True),
    topics.ARM_COMMAND: (TwistStamped, _check_twist, topics.COMMAND, True),
    topics.EE_POSE: (PoseStamped, _check_pose, topics.SENSOR, True),
    topics.JOINT_STATES: (JointState, _check_joints, topics.SENSOR, True),
    # the episode manager's events (no header: stored at arrival); dataset conversion cuts episodes by them
    topics.EPISODE_STATUS: (DiagnosticStatus, lambda m: None, topics.COMMAND, False),
}


def default_out() -> str:
    return str(Path("recordings") / datetime.now().strftime("run_%Y%m%d_%H%M%S"))


class RecorderNode(Node):
    def __init__(self, name: str = "recorder", **kwargs):
        super().__init__(name, **kwargs)
        out = declare(self, "out", "", "recording folder (must not hold a recording yet); empty: "
                      "recordings/run_YYYYmmdd_HHMMSS", read_only=True)
        chosen = declare(self, "topics", list(RECORDABLE), "topics to record (default: all of them; these "
                         "names before remapping)", read_only=True)
        self.max_age = declare(self, "max_age", 1.0, "refuse stamped messages older (or further in the future) "
                               "than this on arrival, s", (0.01, 3600.0))
        self.duration = declare(self, "duration", 0.0, "stop after this many seconds (0: until stopped)",
                                (0.0, 1e7))
        cfg = declare_config(self, RecordingConfig)
        unknown = [t for t in chosen if t not in RECORDABLE]
        if unknown or not chosen:
            raise StartupError(f"parameter topics: cannot record {unknown or 'nothing'}; the recorder knows "
                               f"{', '.join(RECORDABLE)} (remap one of them to record another topic of its type)")
        self.writer = McapFolderWriter(out or default_out(), cfg, file_metadata={
            "recorder": "rigbot_ros.recorder_node", "node": self.get_fully_qualified_name(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds")})
        self.written: dict[str, int] = {}
        self.refused: dict[tuple[str, str], int] = {}
        for topic in chosen:
            cls, check, offered, aged = RECORDABLE[topic]
            name = self.resolve_topic_name(topic)  # after remapping: the name the data really came on
            self.writer.add_topic(name, f"{cls.__module__.split('.')[0]}/{cls.__name__}", _metadata(offered))
            self.written[name] = 0
            self.create_subscription(cls, topic, lambda m, n=name, c=check, a=aged: self.on_message(n, m, c, a),
                                     _queue(offered))
        self.status_pub = self.create_publisher(DiagnosticStatus, "~/status", topics.EVENTS)
        self.create_timer(1.0, self.on_timer)
        self.started = time.monotonic()
        self.get_logger().info(f"recording {len(self.written)} topics to {self.writer.folder} "
                               f"(new file every {cfg.max_file_mb:g} MB or {cfg.max_file_seconds:g} s)")

    # ---- messages ----------------------------------------------------------------------------------------------
    def on_message(self, topic: str, msg, check, aged: bool) -> None:
        now_ns = self.get_clock().now().nanoseconds
        stamp = msg.header.stamp if hasattr(msg, "header") else None
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec if stamp is not None else now_ns
        try:
            if stamp_ns == 0:
                raise conv.BadMessageError("no header stamp (0)")
            age = (now_ns - stamp_ns) * 1e-9
            if aged and abs(age) > self.max_age:
                raise conv.BadMessageError(f"stale: stamped {abs(age):.3f} s {'before' if age > 0 else 'after'} "
                                           f"arrival (limit {self.max_age:g} s)")
            check(msg)
        except conv.BadMessageError as e:
            self.refuse(topic, str(e))
            return
        self.writer.write(topic, serialize_message(msg), now_ns, stamp_ns)
        self.written[topic] += 1

    def refuse(self, topic: str, why: str) -> None:
        kind = why.split(":")[0].split(" (")[0]  # group by the kind of problem, not its exact numbers
        n = self.refused[(topic, kind)] = self.refused.get((topic, kind), 0) + 1
        if n == 1 or n % 100 == 0:
            self.get_logger().warning(f"refused a message on {topic} ({n} so far of this kind), not recorded: "
                                      f"{why}")

    def on_timer(self) -> None:
        self.writer.tick()
        status = DiagnosticStatus(name=self.get_fully_qualified_name(), hardware_id="",
                                  level=DiagnosticStatus.WARN if self.refused else DiagnosticStatus.OK,
                                  message=self.summary())
        status.values = [KeyValue(key=f"written {t}", value=str(n)) for t, n in self.written.items()]
        status.values += [KeyValue(key=f"refused {t}: {k}", value=str(n)) for (t, k), n in self.refused.items()]
        status.values.append(KeyValue(key="file", value=str(self.writer.current_file or "")))
        self.status_pub.publish(status)

    def summary(self) -> str:
        written = sum(self.written.values())
        refused = sum(self.refused.values())
        return (f"{written} messages written, {refused} refused, {len(self.writer.files)} files closed, in "
                f"{self.writer.folder}")

    def done(self) -> bool:
        return self.duration > 0 and time.monotonic() - self.started >= self.duration

    def on_exit(self) -> None:
        for (topic, kind), n in self.refused.items():
            self.writer.set_custom_data(f"refused {topic}: {kind}", n)
        self.writer.close()
        self.get_logger().info("stopped: " + self.summary() + "".join(
            f"\n  {t}: {n} written" for t, n in self.written.items()) + "".join(
            f"\n  {t}: {n} refused ({k})" for (t, k), n in self.refused.items()))


def main(args=None) -> int:
    """Run the recorder until SIGINT/SIGTERM, or for its ``duration``; closes the last file either way."""
    return run(RecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
