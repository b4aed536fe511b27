"""rosbag2's ``metadata.yaml``: what ``ros2 bag play DIR`` and ``ros2 bag info DIR`` read first.

rosbag2 opens a folder only through this file (a single ``.mcap`` file plays without it): the storage plugin,
the files in playing order, and each topic's type, serialization and offered QoS, which playback re-offers (a
latched goal image must be replayed transient-local, or late subscribers miss it). The layout is rosbag2's
``BagMetadata`` at version 9 (Jazzy and later): QoS policies by name, durations as ``{sec, nsec}``.

The recorder rewrites the file (atomically) each time it closes a data file, so it lists closed, complete files
only; a file cut short by a crash is not listed (``rigbot dataset summary`` reports it, and rigbot's reader
recovers its complete chunks).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rigbot.config import ConfigError, dump_yaml, read_yaml
from rigbot.files import atomic_write_text
from rigbot.recording.errors import RecordingError
from rigbot.text import short_repr

VERSION = 9
FILE_NAME = "metadata.yaml"
_FOREVER = {"sec": 0, "nsec": 0}  # RMW's 'unspecified' duration: the default, no deadline or lifespan


@dataclass
class TopicInfo:
    name: str
    type: str  # ROS 2 name, e.g. sensor_msgs/msg/Image
    qos: dict  # reliability, durability, history, depth (rosbag2's names, lower case)
    message_count: int = 0


@dataclass
class FileInfo:
    path: str  # relative to the folder
    start_ns: int
    end_ns: int
    message_count: int


@dataclass
class BagInfo:
    files: list[FileInfo] = field(default_factory=list)
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    custom_data: dict[str, str] = field(default_factory=dict)


def qos_profile(qos: dict) -> dict:
    """One offered-QoS entry as rosbag2 v9 writes it."""
    return {"history": qos.get("history", "keep_last"), "depth": int(qos.get("depth", 1)),
            "reliability": qos.get("reliability", "reliable"), "durability": qos.get("durability", "volatile"),
            "deadline": dict(_FOREVER), "lifespan": dict(_FOREVER), "liveliness": "automatic",
            "liveliness_lease_duration": dict(_FOREVER), "avoid_ros_namespace_conventions": False}


def qos_yaml(qos: dict) -> str:
    """The offered QoS as the YAML text rosbag2's MCAP plugin keeps in each channel's metadata."""
    return dump_yaml([qos_profile(qos)], sort_keys=False)


def write(folder: str | Path, info: BagInfo) -> Path:
    files = info.files
    start = min((f.start_ns for f in files), default=0)
    end = max((f.end_ns for f in files), default=0)
    doc = {"rosbag2_bagfile_information": {
        "version": VERSION,
        "storage_identifier": "mcap",
        "duration": {"nanoseconds": int(end - start)},
        "starting_time": {"nanoseconds_since_epoch": int(start)},
        "message_count": int(sum(f.message_count for f in files)),
        "topics_with_message_count": [
            {"topic_metadata": {"name": t.name, "type": t.type, "serialization_format": "cdr",
                                "offered_qos_profiles": [qos_profile(t.qos)], "type_description_hash": ""},
             "message_count": int(t.message_count)}
            for t in info.topics.values()],
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": [f.path for f in files],
        "files": [{"path": f.path, "starting_time": {"nanoseconds_since_epoch": int(f.start_ns)},
                   "duration": {"nanoseconds": int(f.end_ns - f.start_ns)}, "message_count": int(f.message_count)}
                  for f in files],
        "custom_data": {k: str(v) for k, v in info.custom_data.items()},
        "ros_distro": os.environ.get("ROS_DISTRO", ""),
    }}
    return atomic_write_text(Path(folder) / FILE_NAME, dump_yaml(doc, sort_keys=False))


def read(folder: str | Path) -> dict | None:
    """The ``rosbag2_bagfile_information`` mapping of a folder's metadata.yaml, or None when there is none.

    The file may come from anywhere: it must be a mapping whose ``relative_file_paths`` is a list of names and
    whose ``custom_data`` is a mapping (its keys and values are read as text); anything else is a
    ``RecordingError`` naming the file. Where those names may point is ``mcap_reading``'s check."""
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return None
    try:
        doc = read_yaml(path)  # rigbot's bounded YAML reader: unreadable, not UTF-8, not YAML: a ConfigError
    except ConfigError as e:
        raise RecordingError(" ".join(str(e).split())) from None  # one line: YAML's marks span several
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise RecordingError(f"{path}: not a rosbag2 metadata file (no rosbag2_bagfile_information mapping)")
    files = info.get("relative_file_paths", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise RecordingError(f"{path}: relative_file_paths must be a list of file names, not {short_repr(files, 200)}")
    custom = info.get("custom_data") or {}
    if not isinstance(custom, dict):
        raise RecordingError(f"{path}: custom_data must be a mapping, not {short_repr(custom, 200)}")
    info["custom_data"] = {str(k): str(v) for k, v in custom.items()}
    return info
