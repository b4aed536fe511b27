"""Reading a recording back: every message of every file, including the complete chunks of a file cut short.

What a crash leaves: the files the recorder had closed are complete. The file it was writing ends part way
through a record, with no index, summary or footer. The ``mcap`` package's reader cannot use such a file: its
seeking reader (``make_reader`` on a file) starts from the footer and raises (``InvalidMagic``, or a bogus
record length read from the middle of a chunk); its non-seeking reader raises ``EndOfFile`` at the cut (in
mcap 1.6 before it has yielded a single message of the file). This reader walks the records one by one from the start and stops cleanly at the first record
that is incomplete or fails its CRC: every message of every complete chunk comes back; **what is lost** is the
chunk that was being written when the process died (at most ``chunk_kb`` of data, or ``flush_seconds`` of
messages, whichever came first; see ``mcap_folder_writer``), and the file's index and statistics (rebuilt here
from the messages themselves).

``read_recording(path)`` takes a folder of ``.mcap`` files (a ``rigbot record`` output, or any rosbag2 MCAP
folder) or a single file, and yields ``RecordedMessage``s in file order; ``report`` says, per file, whether it
was complete, how many messages it gave, and how many bytes at its end were unusable.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Schema
from mcap.stream_reader import CRCValidationError, breakup_chunk

from rigbot.recording import cdr, rosbag2_metadata

MAGIC = b"\x89MCAP0\r\n"
_INDEX = re.compile(r"_(\d+)\.mcap$")


class RecordingError(ValueError):
    """A recording rigbot cannot read; the message names the file and what is wrong."""


@dataclass
class RecordedMessage:
    topic: str
    type: str  # ROS 2 type name, e.g. sensor_msgs/msg/Image
    log_time: int  # ns: when the recorder received it
    publish_time: int  # ns
    data: bytes  # CDR
    schema: bytes  # the channel's ros2msg schema text
    file: str

    def decode(self):
        """The message as an object with the ROS fields as attributes (``msg.header.stamp.sec``, ...)."""
        return cdr.decode(self.type, self.data, self.schema)


@dataclass
class FileReport:
    path: Path
    size: int = 0
    complete: bool = False  # closed properly: summary and footer present
    messages: int = 0
    chunks: int = 0
    lost_bytes: int = 0  # bytes after the last usable record (the chunk being written at a crash)
    stopped: str = ""  # why reading stopped before the footer, if it did
    topics: dict[str, int] = field(default_factory=dict)


def recording_files(path: str | Path) -> list[Path]:
    """The MCAP files of a recording folder (in the order metadata.yaml lists them, then any it does not list,
    such as the file a crash cut short, by their index) or ``[path]`` for a single file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such recording (a folder made by 'rigbot record', or an .mcap file)")
    if path.is_file():
        if path.suffix != ".mcap":
            raise RecordingError(f"{path}: not an .mcap file")
        return [path]
    meta = rosbag2_metadata.read(path)
    listed = [path / p for p in (meta or {}).get("relative_file_paths", [])]
    missing = [p.name for p in listed if not p.is_file()]
    if missing:
        raise RecordingError(f"{path}: metadata.yaml lists files that are missing: {', '.join(missing)}")

    def index(p: Path) -> tuple:
        m = _INDEX.search(p.name)
        return (int(m.group(1)) if m else 1 << 60, p.name)

    rest = sorted((p for p in path.glob("*.mcap") if p not in listed), key=index)
    files = listed + rest
    if not files:
        raise RecordingError(f"{path}: no .mcap files in this folder; is it a recording (made by 'rigbot record')?")
    return files


def _records(f, size: int, report: FileReport) -> Iterator[tuple[int, bytes]]:
    """(opcode, body) of each complete record up to the data section's end; sets ``report`` on the way."""
    magic = f.read(len(MAGIC))
    if magic != MAGIC:
        raise RecordingError(f"{report.path}: not an MCAP file (it does not start with the MCAP magic bytes)")
    good = f.tell()
    while True:
        head = f.read(9)
        if len(head) == 0:
            report.stopped = "the file ends without a footer (the recorder did not close it)"
            break
        if len(head) < 9:
            report.stopped = "the file ends inside a record header"
            break
        opcode, length = head[0], int.from_bytes(head[1:], "little")
        if length > size - f.tell():
            report.stopped = f"the last record ({Opcode(opcode).name if opcode in Opcode._value2member_map_ else opcode}) " \
                             f"is cut short: {size - f.tell()} of its {length} bytes are in the file"
            break
        body = f.read(length)
        if opcode in (Opcode.DATA_END, Opcode.FOOTER):
            good = size  # the summary after the data end is the writer's index: complete
            report.complete = True
            break
        yield opcode, body
        good = f.tell()
    report.lost_bytes = size - good


def read_file(path: str | Path, topics: Iterable[str] | None = None,
              report: FileReport | None = None) -> Iterator[RecordedMessage]:
    """The messages of one MCAP file in the order written, complete file or not (see the module docstring)."""
    path = Path(path)
    report = report if report is not None else FileReport(path)
    report.path, report.size = path, path.stat().st_size
    wanted = set(topics) if topics is not None else None
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}

    def handle(record) -> RecordedMessage | None:
        if isinstance(record, Schema):
            schemas[record.id] = record
        elif isinstance(record, Channel):
            channels[record.id] = record
        elif isinstance(record, Message):
            channel = channels.get(record.channel_id)
            if channel is None:
                raise RecordingError(f"{path}: a message on channel {record.channel_id}, which was never defined")
            report.messages += 1
            report.topics[channel.topic] = report.topics.get(channel.topic, 0) + 1
            if wanted is not None and channel.topic not in wanted:
                return None
            schema = schemas.get(channel.schema_id)
            if channel.message_encoding != "cdr" or schema is None or schema.encoding != "ros2msg":
                raise RecordingError(f"{path}: topic {channel.topic} is encoded as {channel.message_encoding!r} "
                                     f"with schema {getattr(schema, 'encoding', None)!r}; rigbot reads ROS 2 "
                                     "recordings (cdr with ros2msg schemas)")
            return RecordedMessage(channel.topic, schema.name, record.log_time, record.publish_time,
                                   bytes(record.data), bytes(schema.data), path.name)
        return None

    with open(path, "rb") as f:
        for opcode, body in _records(f, report.size, report):
            stream = ReadDataStream(io.BytesIO(body))
            if opcode == Opcode.CHUNK:
                try:
                    inner = breakup_chunk(Chunk.read(stream), validate_crc=True)
                except (CRCValidationError, McapError, ValueError, EOFError) as e:  # corrupt, not just cut short
                    report.stopped = f"a chunk is corrupt ({type(e).__name__}: {e}); stopped reading there"
                    report.lost_bytes = report.size - f.tell() + len(body) + 9
                    report.complete = False
                    return
                report.chunks += 1
                for record in inner:
                    msg = handle(record)
                    if msg is not None:
                        yield msg
            elif opcode == Opcode.SCHEMA:
                handle(Schema.read(stream))
            elif opcode == Opcode.CHANNEL:
                handle(Channel.read(stream))
            elif opcode == Opcode.MESSAGE:
                msg = handle(Message.read(stream, len(body)))
                if msg is not None:
                    yield msg


def read_recording(path: str | Path, topics: Iterable[str] | None = None,
                   reports: list[FileReport] | None = None) -> Iterator[RecordedMessage]:
    """Every message of a recording folder (or file), file after file; ``reports`` (if given) fills with one
    ``FileReport`` per file as it is read."""
    topics = list(topics) if topics is not None else None
    for path in recording_files(path):
        report = FileReport(path)
        if reports is not None:
            reports.append(report)
        yield from read_file(path, topics, report)


def scan(path: str | Path) -> list[FileReport]:
    """Read a whole recording once and return the per-file reports (counts, completeness, losses)."""
    reports: list[FileReport] = []
    for _ in read_recording(path, reports=reports):
        pass
    return reports
