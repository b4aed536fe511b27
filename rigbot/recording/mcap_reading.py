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

A recording may come from anyone, so nothing in it is trusted before it is checked: every record's length
against what remains of the file (or of its chunk), every chunk's declared uncompressed size against
``MAX_CHUNK_BYTES`` before decompressing (and decompressed a piece at a time, never past one byte more than it
declares, so that a size that lies shows), every file name in metadata.yaml against the folder (no absolute
paths, ``..`` or links out of it), and every message's CDR when decoded. What is beyond a bound is refused with a
``RecordingError`` naming the file; a record whose bytes make no sense is reported like a failed CRC.
"""
from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import lz4.frame
import zstandard
from mcap.data_stream import ReadDataStream
from mcap.exceptions import EndOfFile, McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Schema

from rigbot.recording import cdr, rosbag2_metadata
from rigbot.recording.errors import RecordingError
from rigbot.recording.msg_definitions import short_name
from rigbot.text import short_repr

MAGIC = b"\x89MCAP0\r\n"
_INDEX = re.compile(r"_(\d+)\.mcap$")

# Bounds on what a file may make the reader allocate, checked before allocating. rigbot's writer makes chunks
# of at most 64 MB (RecordingConfig.chunk_kb); rosbag2's default is 768 KB.
MAX_CHUNK_BYTES = 256 << 20  # uncompressed
MAX_RECORD_BYTES = MAX_CHUNK_BYTES + (1 << 20)  # a record read into memory: a chunk with its header, a message
# Decoding turns every number of a message into a Python object (about 30 x its bytes), so big messages are
# decoded only for types whose bulk is one byte array (an image), with rigbot's own definition of the type.
MAX_DECODED_BYTES = 1 << 20
_BYTE_PAYLOAD_TYPES = {"sensor_msgs/Image"}  # each of them in msg_definitions.DEFINITIONS
_USED = (Opcode.CHUNK, Opcode.SCHEMA, Opcode.CHANNEL, Opcode.MESSAGE)


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
        """The message as an object with the ROS fields as attributes (``msg.header.stamp.sec``, ...); a
        ``RecordingError`` naming the file, topic and log time if its bytes are not what its type says.

        The types rigbot reads (``msg_definitions``) are decoded with rigbot's own definitions, whatever the
        file's schema says (``cdr.decode``): a PoseStamped always has ``.pose``, an Image's one big field is
        bytes."""
        where = f"{self.file}: the message on {short_repr(self.topic, 200)} logged at {self.log_time} ns"
        if len(self.data) > MAX_DECODED_BYTES and short_name(self.type) not in _BYTE_PAYLOAD_TYPES:
            raise RecordingError(f"{where} is {len(self.data)} bytes of {self.type}; rigbot decodes messages "
                                 f"over {MAX_DECODED_BYTES} bytes only for images")
        try:
            return cdr.decode(self.type, self.data, self.schema)
        except RecordingError as e:
            raise RecordingError(f"{where}: {e}") from None


def expect_type(m: RecordedMessage, types: tuple[str, ...], what: str) -> None:
    """A RecordingError unless ``m`` is of one of ``types`` (ROS 2 names): before reading its fields."""
    if short_name(m.type) not in {short_name(t) for t in types}:  # sensor_msgs/msg/Image or sensor_msgs/Image
        raise RecordingError(f"{m.file}: {short_repr(m.topic, 200)} carries {short_repr(m.type, 120)}; {what} must be "
                             f"{' or '.join(t.split('/')[-1] for t in types)} messages")


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
    such as the file a crash cut short, by their index) or ``[path]`` for a single file.

    Every file must be inside the folder: a name in metadata.yaml that is absolute, climbs out with ``..``, or
    is a link to a file elsewhere is refused (a recording from someone else must not make rigbot read, or
    train on, files it was never given)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such recording (a folder made by 'rigbot record', or an .mcap file)")
    if path.is_file():
        if path.suffix != ".mcap":
            raise RecordingError(f"{path}: not an .mcap file")
        return [path]
    meta = rosbag2_metadata.read(path)
    root = path.resolve()
    listed = [_inside(path, root, name, f"{rosbag2_metadata.FILE_NAME} lists")
              for name in (meta or {}).get("relative_file_paths", [])]
    missing = [p.name for p in listed if not p.is_file()]
    if missing:
        raise RecordingError(f"{path}: metadata.yaml lists files that are missing: {', '.join(missing)}")

    def index(p: Path) -> tuple:
        m = _INDEX.search(p.name)
        return (int(m.group(1)) if m else 1 << 60, p.name)

    known = {p.resolve() for p in listed}
    rest = sorted((_inside(path, root, p.name, "it holds") for p in path.glob("*.mcap")
                   if p.resolve() not in known and p.is_file()), key=index)
    files = listed + rest
    if not files:
        raise RecordingError(f"{path}: no .mcap files in this folder; is it a recording (made by 'rigbot record')?")
    return files


def _inside(folder: Path, root: Path, name, what: str) -> Path:
    """``folder / name`` if it is (and, through links, stays) inside the folder; else a RecordingError."""
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        raise RecordingError(f"{folder}: {what} {short_repr(name, 200)}, which is not a file name")
    candidate = folder / name
    real = candidate.resolve()
    if Path(name).is_absolute() or root not in real.parents:
        raise RecordingError(f"{folder}: {what} {short_repr(name, 200)}, which is outside the recording folder (it is "
                             f"{short_repr(str(real), 200)}); rigbot reads only the files inside it")
    return candidate


class _Corrupt(Exception):
    """A record whose bytes make no sense; reading stops there (as at a failed CRC), what came before is kept."""


class _ExactStream(ReadDataStream):
    """mcap's field reader over one record's body, but a field that claims more than the rest of the body is an
    error, found before reading it (not a short read, nor a read of 2**64 bytes)."""

    def __init__(self, body: bytes):
        super().__init__(io.BytesIO(body))
        self._size = len(body)

    def read(self, length: int) -> bytes:
        if length > self._size - self.count:
            raise EndOfFile()
        return super().read(length)


def _records(f, size: int, report: FileReport) -> Iterator[tuple[int, int, bytes]]:
    """(offset, opcode, body) of each complete record rigbot uses, up to the data section's end; sets
    ``report`` on the way. Lengths are checked against what remains of the file before anything is read, and
    records rigbot does not use (attachments, indexes, metadata) are skipped without being read."""
    magic = f.read(len(MAGIC))
    if magic != MAGIC:
        raise RecordingError(f"{report.path}: not an MCAP file (it does not start with the MCAP magic bytes)")
    good = f.tell()
    while True:
        start = f.tell()
        head = f.read(9)
        if len(head) == 0:
            report.stopped = "the file ends without a footer (the recorder did not close it)"
            break
        if len(head) < 9:
            report.stopped = "the file ends inside a record header"
            break
        opcode, length = head[0], int.from_bytes(head[1:], "little")
        if length > size - f.tell():
            report.stopped = f"the last record ({_name(opcode)}) is cut short: {size - f.tell()} of its " \
                             f"{length} bytes are in the file"
            break
        if opcode in (Opcode.DATA_END, Opcode.FOOTER):
            good = size  # the summary after the data end is the writer's index: complete
            report.complete = True
            break
        if opcode not in _USED:
            f.seek(length, io.SEEK_CUR)
        elif length > MAX_RECORD_BYTES:
            raise RecordingError(f"{report.path}: the {_name(opcode)} record at byte {start} is {length} bytes "
                                 f"long; rigbot reads records of at most {MAX_RECORD_BYTES} bytes")
        else:
            yield start, opcode, f.read(length)
        good = f.tell()
    report.lost_bytes = size - good


def _name(opcode: int) -> str:
    return Opcode(opcode).name.lower() if opcode in Opcode._value2member_map_ else f"opcode {opcode}"


def _parse(opcode: int, body: bytes):
    """The Schema, Channel or Message in a record's body (None for other records)."""
    if opcode == Opcode.MESSAGE and len(body) < 22:
        raise _Corrupt(f"a message record of {len(body)} bytes, shorter than a message header (22)")
    stream = _ExactStream(body)
    try:
        if opcode == Opcode.SCHEMA:
            return Schema.read(stream)
        if opcode == Opcode.CHANNEL:
            return Channel.read(stream)
        if opcode == Opcode.MESSAGE:
            return Message.read(stream, len(body))
    except (McapError, ValueError) as e:  # a field past the record's end, a name that is not UTF-8
        raise _Corrupt(f"its {_name(opcode)} record's fields do not fit its {len(body)} bytes "
                       f"({type(e).__name__})") from None
    return None


def _chunk_records(body: bytes) -> list:
    """The records inside a chunk: decompressed within the bounds above, size and CRC checked."""
    try:
        chunk = Chunk.read(_ExactStream(body))
    except (McapError, ValueError) as e:
        raise _Corrupt(f"its header does not fit its {len(body)} bytes ({type(e).__name__})") from None
    data = _decompress(chunk)
    if chunk.uncompressed_crc and zlib.crc32(data) != chunk.uncompressed_crc:
        raise _Corrupt(f"CRC validation failed, expected {chunk.uncompressed_crc}, calculated {zlib.crc32(data)}")
    records, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 9:
            raise _Corrupt(f"it ends inside a record header, {len(data) - pos} bytes before its end")
        opcode, length = data[pos], int.from_bytes(data[pos + 1:pos + 9], "little")
        pos += 9
        if length > len(data) - pos:
            raise _Corrupt(f"a {_name(opcode)} record in it claims {length} bytes where {len(data) - pos} remain")
        record = _parse(opcode, data[pos:pos + length])
        if record is not None:
            records.append(record)
        pos += length
    return records


def _decompress(chunk: Chunk) -> bytes:
    """A chunk's records, decompressing at most one byte more than it declares (so a lie shows)."""
    declared = chunk.uncompressed_size
    if declared > MAX_CHUNK_BYTES:
        raise RecordingError(f"declares {declared} uncompressed bytes, more than the {MAX_CHUNK_BYTES} rigbot "
                             "reads from one chunk; not decompressed")
    try:
        if chunk.compression == "":
            data = chunk.data
        elif chunk.compression == "zstd":
            data = _zstd(chunk.data, declared + 1)
        elif chunk.compression == "lz4":
            data = _lz4(chunk.data, declared + 1)
        else:
            raise RecordingError(f"is compressed with {short_repr(chunk.compression, 40)}; rigbot reads zstd, lz4 and "
                                 "uncompressed chunks")
    except RecordingError:
        raise
    except Exception as e:  # the decompressors' own errors (zstandard.ZstdError, lz4's RuntimeError)
        raise _Corrupt(f"{chunk.compression} data that does not decompress ({type(e).__name__}: {e})") from None
    if len(data) != declared:
        got = "more than" if len(data) > declared else f"{len(data)} bytes, not"
        raise _Corrupt(f"its data holds {got} the {declared} bytes its header declares")
    return data


_PIECE = 1 << 20  # decompress this much at a time: memory follows what the data holds, not what it claims


def _zstd(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of zstd ``data``. (zstandard.decompress allocates a frame's declared content
    size up front, and a read of ``limit`` bytes allocates ``limit``.)"""
    parts, n = [], 0
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        while n < limit:
            piece = reader.read(min(_PIECE, limit - n))
            if not piece:
                break
            parts.append(piece)
            n += len(piece)
    return b"".join(parts)


def _lz4(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of lz4-frame ``data``, a piece at a time (as ``_zstd``)."""
    decompressor = lz4.frame.LZ4FrameDecompressor()
    parts, n, pending = [], 0, data
    while n < limit:
        piece = decompressor.decompress(pending, max_length=min(_PIECE, limit - n))
        pending = b""
        parts.append(piece)
        n += len(piece)
        if not piece or decompressor.eof or decompressor.needs_input:
            break
    return b"".join(parts)


def read_file(path: str | Path, topics: Iterable[str] | None = None,
              report: FileReport | None = None) -> Iterator[RecordedMessage]:
    """The messages of one MCAP file in the order written, complete file or not (see the module docstring)."""
    path = Path(path)
    report = report if report is not None else FileReport(path)
    report.path = path
    try:
        report.size = path.stat().st_size
        f = open(path, "rb")
    except OSError as e:  # a folder named .mcap, no permission: say which file
        raise RecordingError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
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
                raise RecordingError(f"{path}: topic {short_repr(channel.topic, 200)} is encoded as "
                                     f"{short_repr(channel.message_encoding, 40)} with schema "
                                     f"{short_repr(getattr(schema, 'encoding', None), 40)}; rigbot reads ROS 2 "
                                     "recordings (cdr with ros2msg schemas)")
            return RecordedMessage(channel.topic, schema.name, record.log_time, record.publish_time,
                                   bytes(record.data), bytes(schema.data), path.name)
        return None

    with f:
        for start, opcode, body in _records(f, report.size, report):
            try:
                records = _chunk_records(body) if opcode == Opcode.CHUNK else [_parse(opcode, body)]
            except RecordingError as e:  # beyond rigbot's bounds: refused, not read
                raise RecordingError(f"{path}: the {_name(opcode)} record at byte {start} {e}") from None
            except _Corrupt as e:  # damaged, not just cut short: keep what came before, say where it stopped
                what = "a chunk" if opcode == Opcode.CHUNK else f"a {_name(opcode)} record"
                report.stopped = f"{what} is corrupt (at byte {start}: {e}); stopped reading there"
                report.lost_bytes = report.size - start
                report.complete = False
                return
            if opcode == Opcode.CHUNK:
                report.chunks += 1
            for record in records:
                msg = handle(record)
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
