"""CDR bytes <-> Python objects for the message types of ``msg_definitions``, without ROS.

The recorder node serializes with rclpy itself; this is for the ROS-free side: reading recordings, and writing
MCAP files from a frame dataset (``rigbot dataset convert --to mcap``). Both directions use mcap-ros2-support's
dynamic (de)serializers, built from the same definition text that goes into the files' schemas.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from mcap.records import Schema
from mcap_ros2._dynamic import serialize_dynamic
from mcap_ros2.decoder import DecoderFactory

from rigbot.recording.errors import RecordingError
from rigbot.recording.msg_definitions import DEFINITIONS, ros2_name, schema_text, short_name
from rigbot.text import short_repr

_encoders: dict[str, Callable[[Any], bytes]] = {}  # one per type of msg_definitions: bounded
# A file's own schema text, for a type rigbot has no definition of: ROS 2's largest, with every type it uses and
# their comments, are tens of kB. Bounded so that the decoders cached below hold at most 64 of these.
MAX_SCHEMA_BYTES = 256 << 10


def encode(type_name: str, message: Any) -> bytes:
    """CDR bytes of ``message`` (a dict, or an object with the fields as attributes) as type ``type_name``."""
    name = ros2_name(type_name)
    if name not in _encoders:
        _encoders[name] = serialize_dynamic(name, schema_text(name))[name]
    return _encoders[name](message)


@functools.lru_cache(maxsize=64)  # keyed by schema texts from files: a few in use, never one per file read
def decoder(type_name: str, schema: bytes) -> Callable[[bytes], Any]:
    """A decoder for messages whose channel's schema is ``schema`` (ros2msg text): CDR bytes -> an object."""
    record = Schema(id=1, name=type_name, encoding="ros2msg", data=schema)
    return DecoderFactory().decoder_for("cdr", record)


def decode(type_name: str, data: bytes, schema: bytes | None = None) -> Any:
    """Decode CDR bytes of ``type_name``: a type of ``msg_definitions`` always with rigbot's own definition,
    another with ``schema``, the file's text (its only description).

    The type name decides the layout, not the file: a channel that says ``geometry_msgs/msg/PoseStamped`` but
    whose schema is ``int32 x`` would otherwise decode into an object without the fields every reader of a
    PoseStamped uses. The bytes, the type name and the schema all come from a file: whatever the decoder makes
    of them (short data, bad UTF-8, a schema that does not parse, an unknown type) is a ``RecordingError``."""
    own = schema is None or short_name(type_name) in DEFINITIONS
    if not own and len(schema) > MAX_SCHEMA_BYTES:
        raise RecordingError(f"{short_repr(type_name, 120)} comes with a schema of {len(schema)} bytes; rigbot "
                             f"decodes with schemas of at most {MAX_SCHEMA_BYTES}")
    try:
        name = ros2_name(type_name)
        return decoder(name, schema_text(name).encode() if own else schema)(data)
    except Exception as e:  # the third-party decoder's failures on bytes from outside, whatever their type
        why = " ".join(f"{type(e).__name__}: {e}".split())[:200]  # one line, however odd the input
        raise RecordingError(f"not valid CDR of {short_repr(type_name, 120)} ({len(data)} bytes; {why})") from None
