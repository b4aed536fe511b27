"""ROS 2 message definitions as text, for MCAP schemas of encoding ``ros2msg``.

An MCAP file is self-describing: each channel's schema carries the full definition of its message type, so a
reader without ROS (Foxglove, the ``mcap`` CLI, rigbot's own reader) decodes the CDR bytes from the file alone.
The text below follows the ``.msg`` files of ROS 2 (common_interfaces, rcl_interfaces), field for field; a test
checks every definition against the message classes of the installed rclpy by CDR round trips both ways.

A schema is the type's own definition followed by each type it uses, each after a separator line of 80 ``=``
and a line ``MSG: package/Type``, which is how rosbag2's MCAP plugin writes them.
"""
from __future__ import annotations

import re

DEFINITIONS = {
    "builtin_interfaces/Time": """\
int32 sec
uint32 nanosec
""",
    "std_msgs/Header": """\
builtin_interfaces/Time stamp
string frame_id
""",
    "sensor_msgs/Image": """\
std_msgs/Header header
uint32 height
uint32 width
string encoding
uint8 is_bigendian
uint32 step
uint8[] data
""",
    "sensor_msgs/RegionOfInterest": """\
uint32 x_offset
uint32 y_offset
uint32 height
uint32 width
bool do_rectify
""",
    "sensor_msgs/CameraInfo": """\
std_msgs/Header header
uint32 height
uint32 width
string distortion_model
float64[] d
float64[9] k
float64[9] r
float64[12] p
uint32 binning_x
uint32 binning_y
RegionOfInterest roi
""",
    "sensor_msgs/JointState": """\
std_msgs/Header header
string[] name
float64[] position
float64[] velocity
float64[] effort
""",
    "diagnostic_msgs/KeyValue": """\
string key
string value
""",
    "diagnostic_msgs/DiagnosticStatus": """\
byte OK=0
byte WARN=1
byte ERROR=2
byte STALE=3
byte level
string name
string message
string hardware_id
KeyValue[] values
""",
    "geometry_msgs/Vector3": """\
float64 x
float64 y
float64 z
""",
    "geometry_msgs/Point": """\
float64 x
float64 y
float64 z
""",
    "geometry_msgs/Quaternion": """\
float64 x 0
float64 y 0
float64 z 0
float64 w 1
""",
    "geometry_msgs/Pose": """\
Point position
Quaternion orientation
""",
    "geometry_msgs/PoseStamped": """\
std_msgs/Header header
Pose pose
""",
    "geometry_msgs/PointStamped": """\
std_msgs/Header header
Point point
""",
    "geometry_msgs/Twist": """\
Vector3 linear
Vector3 angular
""",
    "geometry_msgs/TwistStamped": """\
std_msgs/Header header
Twist twist
""",
}

SEPARATOR = "=" * 80
_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "string", "wstring"}


def short_name(type_name: str) -> str:
    """``sensor_msgs/msg/Image`` or ``sensor_msgs/Image`` -> ``sensor_msgs/Image``."""
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return f"{parts[0]}/{parts[2]}"
    return type_name


def ros2_name(type_name: str) -> str:
    """``sensor_msgs/Image`` -> ``sensor_msgs/msg/Image``, the name rosbag2 and rclpy use."""
    package, name = short_name(type_name).split("/")
    return f"{package}/msg/{name}"


def _dependencies(type_name: str) -> list[str]:
    """The message types a definition uses, fully qualified (a bare name is in the same package)."""
    package = type_name.split("/")[0]
    found = []
    for line in DEFINITIONS[type_name].splitlines():
        if "=" in line:  # a constant
            continue
        field_type = re.sub(r"\[.*\]$", "", line.split()[0])
        if field_type in _PRIMITIVES or field_type.startswith("string<"):
            continue
        found.append(field_type if "/" in field_type else f"{package}/{field_type}")
    return found


def schema_text(type_name: str) -> str:
    """The full ``ros2msg`` schema of a type: its definition, then every type it uses, each once."""
    main = short_name(type_name)
    if main not in DEFINITIONS:
        raise KeyError(f"no message definition for {type_name!r}; rigbot records {', '.join(sorted(DEFINITIONS))}")
    order, todo = [], list(_dependencies(main))
    while todo:
        dep = todo.pop(0)
        if dep not in order:
            order.append(dep)
            todo.extend(_dependencies(dep))
    parts = [DEFINITIONS[main]]
    for dep in order:
        parts.append(f"{SEPARATOR}\nMSG: {dep}\n{DEFINITIONS[dep]}")
    return "".join(parts)
