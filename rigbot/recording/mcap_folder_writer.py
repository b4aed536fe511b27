"""A folder of MCAP files that rolls over by size and by time, written so that a crash loses little.

    DIR/metadata.yaml     rosbag2's index of the closed files (see rosbag2_metadata)
    DIR/DIR_0.mcap        complete MCAP files, each readable on its own (own schemas, channels, summary)
    DIR/DIR_1.mcap
    ...

Messages arrive already serialized (CDR bytes, as ``rclpy.serialization.serialize_message`` or ``cdr.encode``
make them) with their ROS type name; each channel gets a ``ros2msg`` schema from ``msg_definitions`` and the
profile ``ros2``, as rosbag2's MCAP storage plugin writes, so ``ros2 bag play`` and Foxglove open the files.

Why a crash loses at most the last chunk: messages are grouped into chunks of ``chunk_kb``; a chunk is written
to the file in one ``write`` straight through to the operating system as soon as it is full, or after
``flush_seconds`` (``tick`` and every ``write`` check the clock). A process killed even with SIGKILL leaves
everything the OS has received, so the file holds every finished chunk and ``mcap_reading`` recovers them.
Only closing a file writes its index and footer, which is why the file being written is not yet listed in
metadata.yaml. ``fsync`` happens when a file is closed, against power loss, not per chunk (too slow).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mcap.writer import CompressionType, Writer

from rigbot import __version__
from rigbot.config import spec
from rigbot.recording import msg_definitions, rosbag2_metadata
from rigbot.recording.rosbag2_metadata import BagInfo, FileInfo, TopicInfo


@dataclass
class RecordingConfig:
    """How recordings are split into files and how often data reaches the disk."""

    max_file_mb: float = field(default=1024.0, metadata=spec("start a new file when the current one reaches this "
                                                              "size, MB", range=(0.01, 1e6)))
    max_file_seconds: float = field(default=600.0, metadata=spec("start a new file after this long, s",
                                                                 range=(0.1, 1e7)))
    chunk_kb: float = field(default=256.0, metadata=spec("chunk size, KB: a crash loses at most the chunk being "
                                                         "filled", range=(1.0, 65536.0)))
    flush_seconds: float = field(default=0.5, metadata=spec("write a chunk at least this often, even when not "
                                                            "full, s", range=(0.01, 60.0)))
    compression: Literal["none", "zstd", "lz4"] = field(
        default="none", metadata=spec("chunk compression (none, like rosbag2's default, spares the robot's CPU)"))


_COMPRESSION = {"none": CompressionType.NONE, "zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}


class RecordingExistsError(FileExistsError):
    """The output folder already holds a recording; rigbot never writes over one."""


class _PassThroughFile:
    """A file whose every write goes to the OS at once (mcap hands it whole records), counting the bytes."""

    def __init__(self, path: Path):
        self._f = open(path, "xb", buffering=0)
        self.bytes = 0

    def write(self, data) -> int:
        view = memoryview(data)
        while view:  # a raw write may be partial
            n = self._f.write(view)
            view = view[n:]
        self.bytes += len(data)
        return len(data)

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        pass  # nothing is buffered here

    def close(self) -> None:
        os.fsync(self._f.fileno())
        self._f.close()


class _OpenFile:
    def __init__(self, path: Path, index: int, cfg: RecordingConfig, file_metadata: dict[str, str]):
        self.path, self.index = path, index
        self.stream = _PassThroughFile(path)
        self.mcap = Writer(self.stream, chunk_size=int(cfg.chunk_kb * 1024), compression=_COMPRESSION[cfg.compression])
        self.mcap.start(profile="ros2", library=f"rigbot {__version__}")
        if file_metadata:
            self.mcap.add_metadata("rigbot.recording", {k: str(v) for k, v in file_metadata.items()})
        self.schemas: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.opened = time.monotonic()
        self.last_flush = self.opened
        self.start_ns: int | None = None
        self.end_ns = 0
        self.count = 0


class McapFolderWriter:
    """Write serialized ROS 2 messages into a folder of rolling MCAP files.

    ``add_topic(topic, type_name, qos)`` once per topic, then ``write(topic, cdr_bytes, log_time_ns,
    publish_time_ns)``; call ``tick()`` now and then when messages may pause, and ``close()`` at the end
    (also a context manager). ``files`` lists the closed files.
    """

    def __init__(self, folder: str | Path, cfg: RecordingConfig | None = None,
                 file_metadata: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.cfg = cfg or RecordingConfig()
        if self.folder.exists() and (any(self.folder.glob("*.mcap")) or
                                     (self.folder / rosbag2_metadata.FILE_NAME).exists()):
            raise RecordingExistsError(f"{self.folder} already holds a recording; choose another folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = self.folder.resolve().name
        self.file_metadata = dict(file_metadata or {})
        self.info = BagInfo()
        self._current: _OpenFile | None = None
        self._next_index = 0
        self.closed = False

    # ---- topics ------------------------------------------------------------------------------------------------
    def add_topic(self, topic: str, type_name: str, qos: dict | None = None) -> None:
        """Declare a topic: its ROS type (``sensor_msgs/msg/Image`` or ``sensor_msgs/Image``) and offered QoS
        (``reliability``, ``durability``, ``history``, ``depth`` with rosbag2's lower-case names)."""
        msg_definitions.schema_text(type_name)  # fails now, with the list of known types, not at the first write
        self.info.topics[topic] = TopicInfo(topic, msg_definitions.ros2_name(type_name), dict(qos or {}))

    # ---- writing -----------------------------------------------------------------------------------------------
    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        if self.closed:
            raise ValueError("the recording is closed")
        if topic not in self.info.topics:
            raise KeyError(f"topic {topic!r} was not added (add_topic) before writing to it")
        f = self._current or self._open()
        channel = f.channels.get(topic) or self._register(f, topic)
        f.mcap.add_message(channel_id=channel, log_time=int(log_time_ns),
                           publish_time=int(publish_time_ns if publish_time_ns is not None else log_time_ns),
                           sequence=f.count, data=bytes(data))
        f.count += 1
        f.start_ns = log_time_ns if f.start_ns is None else min(f.start_ns, log_time_ns)
        f.end_ns = max(f.end_ns, log_time_ns)
        self.info.topics[topic].message_count += 1
        self.tick()

    def tick(self) -> None:
        """Flush the chunk being filled if it is older than ``flush_seconds``; roll over if the file is full."""
        f = self._current
        if f is None:
            return
        now = time.monotonic()
        if now - f.last_flush >= self.cfg.flush_seconds:
            f.mcap.flush()
            f.last_flush = now
        if f.stream.bytes >= self.cfg.max_file_mb * 1e6 or now - f.opened >= self.cfg.max_file_seconds:
            self._close_current()

    def _open(self) -> _OpenFile:
        path = self.folder / f"{self.name}_{self._next_index}.mcap"
        self._current = _OpenFile(path, self._next_index, self.cfg, self.file_metadata)
        self._next_index += 1
        return self._current

    def _register(self, f: _OpenFile, topic: str) -> int:
        info = self.info.topics[topic]
        if info.type not in f.schemas:
            f.schemas[info.type] = f.mcap.register_schema(
                info.type, "ros2msg", msg_definitions.schema_text(info.type).encode())
        f.channels[topic] = f.mcap.register_channel(
            topic, "cdr", f.schemas[info.type], {"offered_qos_profiles": rosbag2_metadata.qos_yaml(info.qos)})
        return f.channels[topic]

    def _close_current(self) -> None:
        f, self._current = self._current, None
        if f is None:
            return
        f.mcap.finish()
        f.stream.close()
        self.info.files.append(FileInfo(f.path.name, f.start_ns or 0, f.end_ns, f.count))
        rosbag2_metadata.write(self.folder, self.info)

    # ---- the end -------------------------------------------------------------------------------------------
    def set_custom_data(self, key: str, value) -> None:
        """A note kept in metadata.yaml's ``custom_data`` (e.g. counts of refused messages)."""
        self.info.custom_data[key] = str(value)

    @property
    def files(self) -> list[Path]:
        return [self.folder / f.path for f in self.info.files]

    @property
    def current_file(self) -> Path | None:
        return self._current.path if self._current else None

    def close(self) -> None:
        if self.closed:
            return
        self._close_current()
        # Always once more: the custom data set since the last file closed (the refusal counts) must land even
        # when no file was open at the end, and an empty recording still says what it was for.
        rosbag2_metadata.write(self.folder, self.info)
        self.closed = True

    def __enter__(self) -> "McapFolderWriter":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
