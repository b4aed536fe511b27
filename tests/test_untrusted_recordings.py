"""Recordings and frame datasets from outside, read as an attacker would write them: decompression bombs, records
longer than the file, garbage CDR, non-finite and unphysical hand poses, metadata pointing outside the folder,
and npz chunks that are truncated, folders, pickled, of the wrong dtype or shape, or declaring huge arrays.

Each must give a clear error (``RecordingError`` / ``DatasetError``, one line from the CLI with exit status 2)
that names the file and the problem, quickly and in bounded memory; what is refused never becomes training data.
The recordings are real ones, written by the project's own writer, then damaged byte by byte.
"""
import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
import yaml
import zstandard
from mcap.data_stream import ReadDataStream, RecordBuilder
from mcap.records import Chunk

from rigbot.cli import main as rigbot_main
from rigbot.config import ConfigError
from rigbot.perception.frame_dataset import DatasetError, FrameWriter, count_frames, load_frames
from rigbot.recording import RecordingError, cdr, read_recording, scan
from rigbot.recording.dataset_conversion import recording_to_frames
from rigbot.recording.image_messages import rgb_to_image
from rigbot.recording.mcap_folder_writer import McapFolderWriter, RecordingConfig
from rigbot.recording.msg_definitions import schema_text

IMAGE, POSE = "/camera/camera/color/image_raw", "/rigbot/ee_pose"
T0 = 1_700_000_000 * 10**9
GiB = 1 << 30
AS_LIMIT = 1536 << 20  # address space of the reader's process: an unbounded reader of these files fails in it


def pose_message(t: int, position=(0.4, 0.0, 0.1), orientation=(0.0, 0.0, 0.0, 1.0)) -> dict:
    return {"header": {"stamp": {"sec": t // 10**9, "nanosec": t % 10**9}, "frame_id": "base_link"},
            "pose": {"position": dict(zip("xyz", map(float, position))),
                     "orientation": dict(zip("xyzw", map(float, orientation)))}}


def write_recording(folder: Path, frames: int = 6, compression: str = "none", poses=None,
                    pose_bytes=None) -> Path:
    """A small real recording: ``frames`` 48 x 48 images at 10 Hz, each with a hand pose of the same stamp
    (``poses[i]``: (position, orientation), default a valid one; ``pose_bytes[i]``: raw bytes instead)."""
    cfg = RecordingConfig(compression=compression, chunk_kb=1.0)  # about one image per chunk
    with McapFolderWriter(folder, cfg) as w:
        w.add_topic(IMAGE, "sensor_msgs/Image")
        w.add_topic(POSE, "geometry_msgs/PoseStamped")
        for i in range(frames):
            t = T0 + i * 10**8
            image = np.full((48, 48, 3), 20 * i, np.uint8)
            w.write(IMAGE, cdr.encode("sensor_msgs/Image", rgb_to_image(image, t, "cam")), t, t)
            if pose_bytes is not None:
                data = pose_bytes[i]
            else:
                position, orientation = poses[i] if poses else ((0.4, 0.01 * i, 0.1), (0, 0, 0, 1))
                data = cdr.encode("geometry_msgs/PoseStamped", pose_message(t, position, orientation))
            w.write(POSE, data, t, t)
    return folder


def top_level_records(data: bytes):
    """(offset, opcode, length) of each record of an MCAP file's data section, from its start."""
    pos = 8
    while pos + 9 <= len(data):
        opcode, length = data[pos], int.from_bytes(data[pos + 1:pos + 9], "little")
        yield pos, opcode, length
        if opcode in (0x0F, 0x02):  # data end, footer
            return
        pos += 9 + length


def chunk_record(payload: bytes, compression: str, declared: int, crc: int = 0) -> bytes:
    b = RecordBuilder()
    Chunk(compression=compression, data=payload, message_start_time=T0, message_end_time=T0,
          uncompressed_crc=crc, uncompressed_size=declared).write(b)
    return b.end()


def replace_first_chunk(source: Path, out: Path, record: bytes) -> Path:
    data = source.read_bytes()
    pos, _, length = next((p, o, n) for p, o, n in top_level_records(data) if o == 0x06)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data[:pos] + record + data[pos + 9 + length:])
    return out


def zstd_zeros(size: int, content_size: bool = True) -> bytes:
    """A zstd frame of ``size`` zero bytes: 2 GiB compress to 64 KB."""
    c = zstandard.ZstdCompressor(level=1, write_content_size=content_size)
    o = c.compressobj(size=size if content_size else -1)
    block = bytes(16 << 20)
    parts = [o.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + o.flush()


def run_limited(*argv: str) -> tuple[int, str, int]:
    """``rigbot ARGV`` in a process limited to ``AS_LIMIT`` of address space: (exit status, stderr, peak RSS
    in MB). A reader that allocates what a file claims dies in it with MemoryError and a traceback."""
    script = ("import resource, sys\n"
              f"resource.setrlimit(resource.RLIMIT_AS, ({AS_LIMIT}, {AS_LIMIT}))\n"
              "from rigbot.cli import main\n"
              "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "code = main(sys.argv[1:])\n"
              "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "print(f'EXIT {code} GROWTH {(peak - base) // 1024}')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in p.stderr and p.returncode == 0, p.stderr[-3000:]
    words = p.stdout.split()
    i = words.index("EXIT")
    return int(words[i + 1]), p.stderr.strip(), int(words[i + 3])


def one_line_error(argv: list[str], capsys) -> str:
    """``rigbot ARGV`` fails with exit status 2 and a one-line message (no traceback escapes ``main``)."""
    assert rigbot_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# ---- MCAP: decompression and record lengths ----------------------------------------------------------------

@pytest.fixture(scope="module")
def zstd_recording(tmp_path_factory) -> Path:
    return write_recording(tmp_path_factory.mktemp("zstd") / "run", compression="zstd")


def test_a_zstd_chunk_claiming_gigabytes_is_refused_in_bounded_memory(zstd_recording, tmp_path):
    source = sorted(zstd_recording.glob("*.mcap"))[0]
    bomb = replace_first_chunk(source, tmp_path / "bomb" / "bomb_0.mcap",
                               chunk_record(zstd_zeros(2 * GiB), "zstd", 2 * GiB))
    assert bomb.stat().st_size < 200_000  # a small file ...
    code, err, growth = run_limited("dataset", "summary", str(bomb.parent))
    assert code == 2 and len(err.splitlines()) == 1, err  # ... refused, before allocating what it claims
    assert "bomb_0.mcap" in err and "2147483648 uncompressed bytes" in err, err
    assert growth < 300, f"the reader grew by {growth} MB"


@pytest.mark.parametrize("case", ["frame says 2 GiB", "frame without a size"])
def test_a_zstd_chunk_bigger_than_it_declares_is_corrupt_and_never_decompressed_whole(zstd_recording, tmp_path,
                                                                                      case):
    """The chunk header says 1000 bytes; its zstd frame holds 2 GiB: decompression stops past the 1000."""
    source = sorted(zstd_recording.glob("*.mcap"))[0]
    payload = zstd_zeros(2 * GiB, content_size=case == "frame says 2 GiB")
    liar = replace_first_chunk(source, tmp_path / "liar" / "liar_0.mcap", chunk_record(payload, "zstd", 1000))
    code, err, growth = run_limited("dataset", "summary", str(liar.parent))
    assert code == 0, err  # a corrupt chunk is reported, and reading stops there (as for a failed CRC)
    assert growth < 300, f"the reader grew by {growth} MB"
    report = scan(liar)[0]
    assert "a chunk is corrupt" in report.stopped and "1000" in report.stopped and report.messages == 0


def test_lz4_chunks_are_bounded_too(tmp_path):
    source = sorted(write_recording(tmp_path / "lz4", compression="lz4").glob("*.mcap"))[0]
    huge = replace_first_chunk(source, tmp_path / "huge" / "huge_0.mcap",
                               chunk_record(lz4.frame.compress(bytes(1000)), "lz4", 1 << 40))
    with pytest.raises(RecordingError, match=r"huge_0.mcap.*1099511627776 uncompressed bytes"):
        scan(huge)
    liar = replace_first_chunk(source, tmp_path / "liar" / "liar_0.mcap",
                               chunk_record(lz4.frame.compress(bytes(8 << 20)), "lz4", 1000))
    report = scan(liar)[0]
    assert "a chunk is corrupt" in report.stopped and report.messages == 0
    good = scan(source)[0]  # and the real file reads whole
    assert good.complete and good.messages == 12 and not good.stopped


def test_an_uncompressed_chunk_whose_size_does_not_match_is_corrupt(tmp_path):
    source = sorted(write_recording(tmp_path / "plain").glob("*.mcap"))[0]
    data = source.read_bytes()
    pos, _, length = next((p, o, n) for p, o, n in top_level_records(data) if o == 0x06)
    records = Chunk.read(ReadDataStream(io.BytesIO(data[pos + 9:pos + 9 + length]))).data  # its real records
    assert scan(replace_first_chunk(source, tmp_path / "same" / "same_0.mcap",
                                    chunk_record(records, "", len(records))))[0].complete
    liar = replace_first_chunk(source, tmp_path / "liar" / "liar_0.mcap",
                               chunk_record(records, "", len(records) + 1000))
    report = scan(liar)[0]
    assert "a chunk is corrupt" in report.stopped and report.messages == 0


def test_records_longer_than_what_remains_are_caught_inside_chunks_and_out(tmp_path):
    source = sorted(write_recording(tmp_path / "plain").glob("*.mcap"))[0]
    # a message record inside a chunk that claims 2**62 bytes: the chunk is corrupt, nothing is allocated
    inner = bytes([0x05]) + struct.pack("<Q", 1 << 62) + bytes(40)
    bad = replace_first_chunk(source, tmp_path / "inner" / "inner_0.mcap",
                              chunk_record(inner, "", len(inner), zlib.crc32(inner)))
    report = scan(bad)[0]
    assert "a chunk is corrupt" in report.stopped and "remain" in report.stopped, report.stopped
    # a schema record (outside chunks) whose fields are garbage: reported, not a struct.error
    data = source.read_bytes()
    pos, _, length = next((p, o, n) for p, o, n in top_level_records(data) if o == 0x06)
    garbage = bytes([0x03]) + struct.pack("<Q", 5) + b"\xff" * 5
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "schema_0.mcap").write_bytes(data[:pos] + garbage + data[pos:])
    report = scan(tmp_path / "schema" / "schema_0.mcap")[0]
    assert "corrupt" in report.stopped and report.messages == 0, report.stopped
    # a top-level record claiming more than the file holds: the file was cut short
    cut = tmp_path / "cut" / "cut_0.mcap"
    cut.parent.mkdir()
    cut.write_bytes(data[:pos] + bytes([0x06]) + struct.pack("<Q", (1 << 64) - 1))
    report = scan(cut)[0]
    assert "cut short" in report.stopped and report.lost_bytes == 9


# ---- metadata.yaml: file names stay inside the recording folder --------------------------------------------

@pytest.mark.parametrize("how", ["dot-dot", "absolute", "symlink listed", "symlink beside"])
def test_metadata_cannot_make_the_reader_leave_the_recording_folder(tmp_path, how, capsys):
    outside = sorted(write_recording(tmp_path / "secret").glob("*.mcap"))[0]  # a real file, outside
    rec = write_recording(tmp_path / "rec", frames=2)
    meta_path = rec / "metadata.yaml"
    doc = yaml.safe_load(meta_path.read_text())
    entry = {"dot-dot": f"../secret/{outside.name}", "absolute": str(outside)}.get(how, "link.mcap")
    if how.startswith("symlink"):
        (rec / "link.mcap").symlink_to(outside)
    if how != "symlink beside":
        doc["rosbag2_bagfile_information"]["relative_file_paths"].append(entry)
    meta_path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RecordingError, match="outside the recording folder"):
        list(read_recording(rec))
    err = one_line_error(["dataset", "summary", str(rec)], capsys)
    assert str(rec) in err and "outside the recording folder" in err


def test_metadata_that_is_not_a_rosbag2_file_list_is_a_clear_error(tmp_path, capsys):
    rec = write_recording(tmp_path / "rec", frames=2)
    for doc in ({"rosbag2_bagfile_information": {"relative_file_paths": "rec_0.mcap"}},
                {"rosbag2_bagfile_information": {"relative_file_paths": [7]}},
                {"rosbag2_bagfile_information": {"relative_file_paths": [], "custom_data": ["x"]}},
                ["not", "a", "mapping"]):
        (rec / "metadata.yaml").write_text(yaml.safe_dump(doc))
        err = one_line_error(["dataset", "summary", str(rec)], capsys)
        assert "metadata.yaml" in err, err


# ---- CDR and hand poses --------------------------------------------------------------------------------

def test_garbage_cdr_is_a_clear_error_naming_the_file_topic_and_time(tmp_path, capsys):
    rng = np.random.default_rng(0)
    garbage = [rng.bytes(n) for n in (0, 3, 7, 30, 64, 200)]
    rec = write_recording(tmp_path / "rec", pose_bytes=garbage)
    messages = list(read_recording(rec, [POSE]))
    for m in messages:
        try:
            m.decode()
        except RecordingError as e:
            assert m.file in str(e) and POSE in str(e) and str(m.log_time) in str(e)
    with pytest.raises(RecordingError):
        messages[0].decode()  # empty: not even a CDR header
    err = one_line_error(["dataset", "convert", str(rec), str(tmp_path / "frames")], capsys)
    assert "no usable hand pose" in err and "rec_0.mcap" in err, err
    assert not (tmp_path / "frames" / "meta.yaml").exists()


@pytest.mark.parametrize("bad", [
    ((float("nan"), 0.0, 0.1), (0, 0, 0, 1)),
    ((1e300, 0.0, 0.1), (0, 0, 0, 1)),
    ((0.4, float("inf"), 0.1), (0, 0, 0, 1)),
    ((0.4, 11.0, 0.1), (0, 0, 0, 1)),  # 11 m from the base: no table-top arm
    ((0.4, 0.0, 0.1), (0, 0, 0, 0)),  # not a rotation
    ((0.4, 0.0, 0.1), (0, 0, 0, float("nan"))),
], ids=["nan", "1e300", "inf", "11 m", "zero quaternion", "nan quaternion"])
def test_non_finite_or_unphysical_hand_poses_never_become_training_data(tmp_path, bad, capsys):
    poses = [((0.4, 0.01 * i, 0.1), (0, 0, 0, 1)) for i in range(6)]
    poses[2] = poses[4] = bad
    rec = write_recording(tmp_path / "rec", poses=poses)
    out = tmp_path / "frames"
    assert rigbot_main(["dataset", "convert", str(rec), str(out), "--rate", "0", "--max-skew", "0.01"]) == 0
    text = capsys.readouterr().out
    frames = load_frames(out)
    assert np.isfinite(frames["observations"]).all() and np.abs(frames["observations"]).max() < 10
    assert len(frames["images"]) == 4  # the frames of the refused poses have no pose within 10 ms: skipped
    assert "refused 2 hand poses" in text and f"stamp {T0 + 2 * 10**8}" in text, text
    report = recording_to_frames(rec, tmp_path / "again", rate=0, max_skew=0.01)
    assert report["refused_poses"] == 2 and report["frames"] == 4


def test_a_recording_with_only_bad_poses_is_an_error(tmp_path, capsys):
    rec = write_recording(tmp_path / "rec", frames=3, poses=[((float("nan"),) * 3, (0, 0, 0, 1))] * 3)
    err = one_line_error(["dataset", "convert", str(rec), str(tmp_path / "frames")], capsys)
    assert "no usable hand pose" in err and "3 refused" in err and "not finite" in err, err
    assert not (tmp_path / "frames" / "meta.yaml").exists()


def test_a_pose_topic_of_another_type_is_a_clear_error(tmp_path, capsys):
    rec = write_recording(tmp_path / "rec", frames=2)
    err = one_line_error(["dataset", "convert", str(rec), str(tmp_path / "f"), "--pose-topic", IMAGE], capsys)
    assert "sensor_msgs/msg/Image" in err and "PoseStamped" in err, err
    err = one_line_error(["dataset", "convert", str(rec), str(tmp_path / "f"), "--image-topic", POSE], capsys)
    assert "geometry_msgs/msg/PoseStamped" in err and "camera images must be Image" in err, err
    err = one_line_error(["dataset", "sheet", str(rec), "--image-topic", POSE, "--out", str(tmp_path / "s.png")],
                         capsys)
    assert "camera images must be Image" in err, err
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())  # nothing written


EPISODE = "/rigbot/episode/status"
LYING_SCHEMA = b"int32 x\n"  # the channel says PoseStamped (or Image, ...); its schema and bytes say otherwise


def write_lying_recording(folder: Path, liar: str, frames: int = 6) -> Path:
    """A recording forged with the ``mcap`` package itself: ``frames`` images, hand poses and episode events, the
    channel of topic ``liar`` keeping its proper type name but with the schema ``int32 x`` and messages of it."""
    from mcap.writer import Writer

    types = {IMAGE: "sensor_msgs/msg/Image", POSE: "geometry_msgs/msg/PoseStamped",
             EPISODE: "diagnostic_msgs/msg/DiagnosticStatus"}
    folder.mkdir(parents=True)
    with open(folder / f"{folder.name}_0.mcap", "wb") as f:
        w = Writer(f)
        w.start(profile="ros2", library="forger")
        channels = {}
        for topic, type_name in types.items():
            text = LYING_SCHEMA if topic == liar else schema_text(type_name).encode()
            channels[topic] = w.register_channel(topic, "cdr", w.register_schema(type_name, "ros2msg", text))
        for i in range(frames):
            t = T0 + i * 10**8
            honest = {IMAGE: cdr.encode("sensor_msgs/Image", rgb_to_image(np.full((48, 48, 3), 9, np.uint8), t, "c")),
                      POSE: cdr.encode("geometry_msgs/PoseStamped", pose_message(t)),
                      EPISODE: cdr.encode("diagnostic_msgs/DiagnosticStatus",
                                          {"name": "episode", "values": [{"key": "episode", "value": "1"}]})}
            for topic, data in honest.items():
                lie = b"\x00\x01\x00\x00" + struct.pack("<i", 7)  # CDR (little endian) of `int32 x` = 7
                w.add_message(channels[topic], log_time=t, publish_time=t, data=lie if topic == liar else data)
        w.finish()
    return folder


@pytest.mark.parametrize("liar", [POSE, EPISODE, IMAGE])
def test_a_schema_that_lies_about_its_type_is_a_clear_error(tmp_path, liar, capsys):
    """The type name decides the layout: rigbot decodes its types with its own definitions, not the file's."""
    rec = write_lying_recording(tmp_path / "rec", liar)
    lying = next(m for m in read_recording(rec, [liar]))
    with pytest.raises(RecordingError, match=rf"rec_0.mcap: the message on '{liar}'.*not valid CDR"):
        lying.decode()
    err = one_line_error(["dataset", "convert", str(rec), str(tmp_path / "frames")], capsys)
    assert "rec_0.mcap" in err, err
    assert not (tmp_path / "frames" / "meta.yaml").exists()  # nothing of it became training data
    if liar == IMAGE:
        err = one_line_error(["dataset", "sheet", str(rec), "--out", str(tmp_path / "s.png")], capsys)
        assert "rec_0.mcap" in err and IMAGE in err and "sensor_msgs/msg/Image" in err, err
        assert not (tmp_path / "s.png").exists()
    assert rigbot_main(["dataset", "summary", str(rec)]) == 0  # reads no bodies: lists the topics as recorded
    assert liar in capsys.readouterr().out


def test_recorded_images_beyond_the_image_bounds_are_refused(tmp_path, capsys):
    """Recorded images are bounded as image files and the nodes' image messages are (rigbot.media): a strip of
    8200 x 48 pixels is wider than any camera, however well its bytes add up (before, it became a frame: its
    centre square, resized)."""
    rec = tmp_path / "rec"
    with McapFolderWriter(rec) as w:
        w.add_topic(IMAGE, "sensor_msgs/Image")
        w.add_topic(POSE, "geometry_msgs/PoseStamped")
        for i in range(3):
            t = T0 + i * 10**8
            strip = np.full((48, 8200, 3), 50, np.uint8)
            w.write(IMAGE, cdr.encode("sensor_msgs/Image", rgb_to_image(strip, t, "cam")), t, t)
            w.write(POSE, cdr.encode("geometry_msgs/PoseStamped", pose_message(t)), t, t)
    err = one_line_error(["dataset", "convert", str(rec), str(tmp_path / "frames"), "--rate", "0"], capsys)
    assert "none of its 3 images became a frame" in err and "8200 x 48 pixels, more than rigbot reads" in err, err
    assert not (tmp_path / "frames" / "meta.yaml").exists()
    err = one_line_error(["dataset", "sheet", str(rec), "--out", str(tmp_path / "s.png")], capsys)
    assert "8200 x 48 pixels" in err, err


def test_the_honest_forged_recording_converts(tmp_path):
    """(The forger above writes sound recordings when it does not lie.)"""
    rec = write_lying_recording(tmp_path / "rec", liar="")
    assert recording_to_frames(rec, tmp_path / "frames", rate=0)["frames"] == 6


def test_decoders_built_from_file_schemas_are_bounded():
    """Decoders are cached by schema text; a file with thousands of distinct schemas must not grow it forever."""
    for i in range(300):
        thing = cdr.decode("other_pkg/msg/Thing", b"\x00\x01\x00\x00" + struct.pack("<i", i), f"int32 x{i}\n".encode())
        assert getattr(thing, f"x{i}") == i  # a type rigbot has no definition of: the file's schema is all there is
    assert cdr.decoder.cache_info().currsize <= 64
    huge = b"int32 x\n" + b"# a comment\n" * 30_000  # 360 kB of schema: no such ROS message
    with pytest.raises(RecordingError, match="a schema of 360008 bytes"):
        cdr.decode("other_pkg/msg/Thing", b"\x00\x01\x00\x00" + bytes(4), huge)


def test_unreadable_metadata_is_a_clear_error(tmp_path, capsys):
    rec = write_recording(tmp_path / "rec", frames=2)
    (rec / "metadata.yaml").write_bytes(b"\xff\xfe\x00binary" * 10)
    assert "metadata.yaml" in one_line_error(["dataset", "summary", str(rec)], capsys)
    (rec / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n  x: {")
    assert "metadata.yaml" in one_line_error(["dataset", "summary", str(rec)], capsys)
    data = make_dataset(tmp_path / "data")
    (data / "meta.yaml").write_text("format_version: [1\n  x: {")
    assert "meta.yaml" in one_line_error(["dataset", "summary", str(data)], capsys)


# ---- frame datasets ---------------------------------------------------------------------------------------

def good_arrays(n: int = 4, size: int = 48) -> dict:
    return {"images": np.zeros((n, size, size, 3), np.uint8), "observations": np.full((n, 3), 0.1),
            "achieved_goals": np.full((n, 2), 0.1), "episodes": np.zeros(n, np.int64),
            "steps": np.arange(n, dtype=np.int64)}


def make_dataset(folder: Path, arrays: dict | None = None) -> Path:
    with FrameWriter(folder, {"task": "reach", "image_size": 48}) as w:
        a = good_arrays()
        for i in range(4):
            w.add(a["images"][i], a["observations"][i], a["achieved_goals"][i], 0, i)
    if arrays is not None:
        with open(folder / "chunk_000000.npz", "wb") as f:
            np.savez(f, **arrays)
    return folder


def npz_with_header(path: Path, name: str, shape: tuple, dtype: str = "<i8", data: bytes = b"") -> None:
    """A chunk whose member ``name`` declares ``shape`` in its npy header but holds ``data``."""
    arrays = good_arrays()
    with zipfile.ZipFile(path, "w") as z:
        for key, value in arrays.items():
            if key == name:
                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                                           "shape": shape})
                z.writestr(f"{key}.npy", buf.getvalue() + data)
            else:
                buf = io.BytesIO()
                np.save(buf, value)
                z.writestr(f"{key}.npy", buf.getvalue())


def damage(folder: Path, how: str) -> None:
    chunk = folder / "chunk_000000.npz"
    a = good_arrays()
    if how == "truncated":
        chunk.write_bytes(chunk.read_bytes()[:300])
    elif how == "a folder":
        chunk.unlink()
        chunk.mkdir()
    elif how == "missing key":
        a.pop("steps")
        np.savez(chunk, **a)
    elif how == "pickled":
        a["images"] = np.array([object()] * 4, dtype=object)
        with open(chunk, "wb") as f:
            np.savez(f, **a)
    elif how == "float images":
        a["images"] = a["images"].astype(np.float64)
        np.savez(chunk, **a)
    elif how == "wrong image size":
        a["images"] = np.zeros((4, 32, 32, 3), np.uint8)
        np.savez(chunk, **a)
    elif how == "mismatched lengths":
        a["images"] = a["images"][:3]
        np.savez(chunk, **a)
    elif how == "nan observations":
        a["observations"][1, 0] = np.nan
        np.savez(chunk, **a)
    elif how == "1e300 hand":
        a["observations"][1, 2] = 1e300
        np.savez(chunk, **a)
    elif how == "string steps":
        a["steps"] = np.array(["a", "b", "c", "d"])
        np.savez(chunk, **a)
    elif how == "huge episodes":  # declares 4 x 10**9 int64: 32 GB, in a file of a few KB
        npz_with_header(chunk, "episodes", (4 * 10**9,))
    elif how == "huge images":
        npz_with_header(chunk, "images", (10**7, 48, 48, 3), "|u1")
    else:
        raise AssertionError(how)


DAMAGE = ["truncated", "a folder", "missing key", "pickled", "float images", "wrong image size",
          "mismatched lengths", "nan observations", "1e300 hand", "string steps", "huge episodes", "huge images"]
VALUE_DAMAGE = ("nan observations", "1e300 hand")


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_chunk_is_a_clear_error_for_every_reader(tmp_path, how, capsys):
    data = make_dataset(tmp_path / "data")
    damage(data, how)
    chunk = str(data / "chunk_000000.npz")
    readers = [load_frames]
    if how not in VALUE_DAMAGE:  # these two read headers (and episodes) only: the file's structure
        readers += [count_frames, lambda d: FrameWriter(d, {"task": "reach", "image_size": 48})]
    for read in readers:
        with pytest.raises(DatasetError) as e:
            read(data)
        assert chunk in str(e.value), str(e.value)
    err = one_line_error(["dataset", "summary", str(data)], capsys)  # summary no longer calls it fine
    assert chunk in err, err
    err = one_line_error(["dataset", "convert", str(data), str(tmp_path / "rec"), "--to", "mcap"], capsys)
    assert chunk in err, err
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").iterdir())


@pytest.mark.parametrize("how", ["huge episodes", "huge images"])
def test_huge_declared_arrays_are_refused_before_loading_in_bounded_memory(tmp_path, how):
    data = make_dataset(tmp_path / "data")
    damage(data, how)
    code, err, growth = run_limited("dataset", "summary", str(data))
    assert code == 2 and "chunk_000000.npz" in err and "declares" in err, err
    assert growth < 300, f"the reader grew by {growth} MB"


def npy_member(array: np.ndarray, extra: bytes = b"", version=(1, 0)) -> bytes:
    """An npy file of ``array`` in npy format ``version``, with ``extra`` bytes after its data."""
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": array.shape}
    (np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0)(buf, header)
    head = bytearray(buf.getvalue())
    head[6:8] = bytes(version)  # 3.0 is laid out as 2.0 (its header text may be UTF-8)
    return bytes(head) + array.tobytes() + extra


@pytest.mark.parametrize("case", ["bytes after the data", "npy version 3.0", "pickled"])
def test_pose_files_and_frame_datasets_read_npz_members_alike(tmp_path, case):
    """One reader of npz members (rigbot.npy) for both: a member is loaded only if its header declares exactly
    what it holds, in an npy version rigbot reads, without Python objects; each refusal names file and array."""
    from rigbot.calibration.pose_files import read_positions

    def member(array: np.ndarray) -> bytes:
        if case == "pickled":
            buf = io.BytesIO()
            np.save(buf, np.array([None] * len(array), dtype=object), allow_pickle=True)
            return buf.getvalue()
        return npy_member(array, b"\0" * 64 if case == "bytes after the data" else b"",
                          (3, 0) if case == "npy version 3.0" else (1, 0))

    positions = np.full((2, 3), 0.1)
    with zipfile.ZipFile(tmp_path / "poses.npz", "w") as z:
        z.writestr("positions.npy", member(positions))
    with pytest.raises(ConfigError, match="poses.npz: positions"):
        read_positions(tmp_path / "poses.npz")
    data = make_dataset(tmp_path / "data")
    chunk = data / "chunk_000000.npz"
    arrays = good_arrays()
    with zipfile.ZipFile(chunk, "w") as z:
        for key, value in arrays.items():
            z.writestr(f"{key}.npy", member(value) if key == "observations" else npy_member(value))
    with pytest.raises(DatasetError, match="chunk_000000.npz: observations"):
        load_frames(data)
    with zipfile.ZipFile(tmp_path / "sound.npz", "w") as z:  # and the same member, sound, reads in both
        z.writestr("positions.npy", npy_member(positions))
    assert np.allclose(read_positions(tmp_path / "sound.npz"), positions)


def test_the_npz_member_reader_needs_neither_opencv_nor_mujoco():
    code = "import sys, rigbot.npy; print(sorted({'cv2', 'mujoco'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_meta_yaml_with_missing_or_bad_keys_is_a_clear_error(tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    for meta in ({"format_version": 1, "task": "reach"}, {"format_version": 1, "task": "reach", "image_size": "x"},
                 {"format_version": 1, "task": "reach", "image_size": 10**6}):
        (data / "meta.yaml").write_text(yaml.safe_dump(meta))
        with pytest.raises(DatasetError, match="meta.yaml.*image_size"):
            load_frames(data)
        err = one_line_error(["dataset", "summary", str(data)], capsys)
        assert "image_size" in err, err


def test_a_sound_dataset_still_reads(tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    frames = load_frames(data)
    assert count_frames(data) == 4 and frames["images"].dtype == np.uint8 and frames["images"].shape == (4, 48, 48, 3)
    assert rigbot_main(["dataset", "summary", str(data)]) == 0
    assert "4 frames in 1 episodes" in capsys.readouterr().out


def test_big_messages_are_decoded_only_as_images(tmp_path):
    """Decoding makes a Python object of every number: 2 MB of float64s would be 250000 of them."""
    rec = tmp_path / "rec"
    with McapFolderWriter(rec) as w:
        w.add_topic("/joints", "sensor_msgs/JointState")
        w.add_topic(IMAGE, "sensor_msgs/Image")
        joints = {"name": [], "position": [0.0] * 250_000, "velocity": [], "effort": []}
        w.write("/joints", cdr.encode("sensor_msgs/JointState", joints), T0, T0)
        big = np.zeros((600, 800, 3), np.uint8)  # 1.4 MB: a camera frame
        w.write(IMAGE, cdr.encode("sensor_msgs/Image", rgb_to_image(big, T0, "cam")), T0, T0)
    joints_msg, image_msg = list(read_recording(rec))
    with pytest.raises(RecordingError, match=r"rec_0.mcap: the message on '/joints' .* only for images"):
        joints_msg.decode()
    assert image_msg.decode().height == 600
