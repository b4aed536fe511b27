"""recorder node: writes the robot's topics to rolling MCAP files (rosbag2's format; rigbot.recording).

in:  by default every topic a run produces: camera image + camera_info, latent, goal image, policy command,
     gated arm command, hand pose, joint states, episode events (parameter ``topics`` picks a subset; remap to
     record others)
out: ~/status (diagnostic_msgs/DiagnosticStatus, every second: messages written and refused, current file)
     files in ``out``: DIR_0.mcap, DIR_1.mcap, ... and metadata.yaml (``ros2 bag play DIR`` plays them)

Each message is checked before it is written, with the checks the consuming nodes apply (the rules are
rigbot.recording.checked_recording's): images must decode (encoding, size, data length), latents must be finite
1-row 32FC1 images, commands and poses finite, and stamps set and no older than ``max_age`` (nor that far in the
future) on arrival. A message that fails is refused: counted per topic and kind of problem, logged, reported on
~/status and in metadata.yaml's custom_data, and never written as good data. Latched goal images are not checked
for age: a goal set minutes ago is still the goal.

Each message is stored as received (CDR bytes, its header untouched), with log time = arrival on this node's
clock and publish time = its header stamp. Files roll over by size and time; a kill loses at most the last
chunk (``chunk_kb`` / ``flush_seconds``): see rigbot.recording.mcap_folder_writer.
"""
from __future__ import annotations

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
from rigbot.recording.checked_recording import CheckedRecording
from rigbot_ros import topics
from rigbot_ros.node_runtime import StartupError, declare, declare_config, run


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


# topic -> (message class, its check in rigbot.recording.checked_recording.CHECKS, the QoS its publisher offers
# (topics.py's), check the age?)
RECORDABLE = {
    topics.IMAGE: (Image, "image", topics.SENSOR, True),
    topics.CAMERA_INFO: (CameraInfo, "camera_info", topics.SENSOR, True),
    topics.LATENT: (Image, "latent", topics.SENSOR, True),
    topics.GOAL_IMAGE: (Image, "image", topics.LATCHED, False),
    topics.POLICY_COMMAND: (TwistStamped, "twist", topics.COMMAND, True),
    topics.ARM_COMMAND: (TwistStamped, "twist", topics.COMMAND, True),
    topics.EE_POSE: (PoseStamped, "pose", topics.SENSOR, True),
    topics.JOINT_STATES: (JointState, "joints", topics.SENSOR, True),
    # the episode manager's events (no header: stored at arrival); dataset conversion cuts episodes by them
    topics.EPISODE_STATUS: (DiagnosticStatus, "any", topics.COMMAND, False),
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
        max_age = declare(self, "max_age", 1.0, "refuse stamped messages older (or further in the future) than "
                          "this on arrival, s", (0.01, 3600.0))
        self.duration = declare(self, "duration", 0.0, "stop after this many seconds (0: until stopped)",
                                (0.0, 1e7))
        cfg = declare_config(self, RecordingConfig)
        unknown = [t for t in chosen if t not in RECORDABLE]
        if unknown or not chosen:
            raise StartupError(f"parameter topics: cannot record {unknown or 'nothing'}; the recorder knows "
                               f"{', '.join(RECORDABLE)} (remap one of them to record another topic of its type)")
        writer = McapFolderWriter(out or default_out(), cfg, file_metadata={
            "recorder": "rigbot_ros.recorder_node", "node": self.get_fully_qualified_name(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds")})
        self.recording = CheckedRecording(writer, max_age, warn=self.get_logger().warning)
        for topic in chosen:
            cls, check, offered, aged = RECORDABLE[topic]
            name = self.resolve_topic_name(topic)  # after remapping: the name the data really came on
            self.recording.add_topic(name, f"{cls.__module__.split('.')[0]}/{cls.__name__}", _metadata(offered),
                                     check, aged)
            self.create_subscription(cls, topic, lambda m, n=name: self.on_message(n, m), _queue(offered))
        self.status_pub = self.create_publisher(DiagnosticStatus, "~/status", topics.EVENTS)
        self.create_timer(1.0, self.on_timer)
        self.started = time.monotonic()
        self.get_logger().info(f"recording {len(self.recording.written)} topics to {writer.folder} "
                               f"(new file every {cfg.max_file_mb:g} MB or {cfg.max_file_seconds:g} s)")

    def on_message(self, topic: str, msg) -> None:
        self.recording.offer(topic, msg, serialize_message, self.get_clock().now().nanoseconds)

    def on_timer(self) -> None:
        rec = self.recording
        rec.writer.tick()
        status = DiagnosticStatus(name=self.get_fully_qualified_name(), hardware_id="",
                                  level=DiagnosticStatus.WARN if rec.refused else DiagnosticStatus.OK,
                                  message=rec.summary())
        status.values = [KeyValue(key=k, value=str(n)) for k, n in rec.counts().items()]
        status.values.append(KeyValue(key="file", value=str(rec.writer.current_file or "")))
        self.status_pub.publish(status)

    def done(self) -> bool:
        return self.duration > 0 and time.monotonic() - self.started >= self.duration

    def on_exit(self) -> None:
        self.recording.close()
        self.get_logger().info("stopped: " + self.recording.report())


def main(args=None) -> int:
    """Run the recorder until SIGINT/SIGTERM, or for its ``duration``; closes the last file either way."""
    return run(RecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
