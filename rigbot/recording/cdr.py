"""CDR bytes <-> Python objects for the message types of ``msg_definitions``, without ROS.

The recorder node serializes with rclpy itself; this is for the ROS-free side: reading recordings, and writing
MCAP files from a frame dataset (``rigbot dataset convert --to mcap``). Both directions use mcap-ros2-support's
dynamic (de)serializers, built from the same definition text that goes into the files' schemas.
"""
from __future__ import annotations

from typing import Any, Callable

from mcap.records import Schema
from mcap_ros2._dynamic import serialize_dynamic
from mcap_ros2.decoder import DecoderFactory

from rigbot.recording.errors import RecordingError
from rigbot.recording.msg_definitions import ros2_name, schema_text

_encoders: dict[str, Callable[[Any], bytes]] = {}
_decoders: dict[tuple[str, bytes], Callable[[bytes], Any]] = {}


def encode(type_name: str, message: Any) -> bytes:
    """CDR bytes of ``message`` (a dict, or an object with the fields as attributes) as type ``type_name``."""
    name = ros2_name(type_name)
    if name not in _encoders:
        _encoders[name] = serialize_dynamic(name, schema_text(name))[name]
    return _encoders[name](message)


def decoder(type_name: str, schema: bytes) -> Callable[[bytes], Any]:
    """A decoder for messages whose channel's schema is ``schema`` (ros2msg text): CDR bytes -> an object."""
    key = (type_name, schema)
    if key not in _decoders:
        record = Schema(id=1, name=type_name, encoding="ros2msg", data=schema)
        _decoders[key] = DecoderFactory().decoder_for("cdr", record)
    return _decoders[key]


def decode(type_name: str, data: bytes, schema: bytes | None = None) -> Any:
    """Decode CDR bytes of ``type_name``, with the file's schema text or else rigbot's own definition.

    The bytes, the type name and the schema all come from a file: whatever the decoder makes of them (short
    data, bad UTF-8, a schema that does not parse, an unknown type) is a ``RecordingError`` saying so."""
    try:
        name = ros2_name(type_name)
        return decoder(name, schema if schema is not None else schema_text(name).encode())(data)
    except Exception as e:  # the third-party decoder's failures on bytes from outside, whatever their type
        why = " ".join(f"{type(e).__name__}: {e}".split())[:200]  # one line, however odd the input
        raise RecordingError(f"not valid CDR of {type_name!r:.120} ({len(data)} bytes; {why})") from None
