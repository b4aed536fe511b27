"""Recording runs: a real recorder node process records a real twin node process over DDS; the MCAP files are
read back by mcap's own reader, by rosbags (an independent rosbag2 implementation, through metadata.yaml) and by
rigbot's; kill -9 mid-write; conversion to the training format and back; summary, contact sheet, bad inputs."""
import math
import os
import signal
import time

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue  # noqa: E402
from geometry_msgs.msg import PointStamped, PoseStamped, TwistStamped  # noqa: E402
from mcap.exceptions import McapError  # noqa: E402
from mcap.reader import NonSeekingReader, make_reader  # noqa: E402
from mcap.stream_reader import StreamReader, breakup_chunk  # noqa: E402
from mcap.records import Chunk, Message  # noqa: E402
from mcap_ros2.decoder import DecoderFactory  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402

from ros_helpers import NodeProcess, Probe  # noqa: E402
from rigbot import media  # noqa: E402
from rigbot.cli import main as rigbot_main  # noqa: E402
from rigbot.perception.frame_dataset import load_frames, read_meta  # noqa: E402
from rigbot.recording import cdr, read_recording, scan  # noqa: E402
from rigbot.recording.dataset_conversion import frames_to_recording, recording_to_frames  # noqa: E402
from rigbot.recording.image_messages import image_to_rgb, stamp_ns  # noqa: E402
from rigbot.recording.mcap_folder_writer import McapFolderWriter  # noqa: E402
from rigbot.recording.msg_definitions import DEFINITIONS  # noqa: E402
from rigbot_ros import conversions as conv  # noqa: E402
from rigbot_ros import topics  # noqa: E402

SMALL_FILES = {"max_file_mb": 0.04, "chunk_kb": 4.0, "flush_seconds": 0.2}  # about 4 files per second of the twin


@pytest.fixture(scope="module")
def probe():
    rclpy.init()
    p = Probe("recording_probe")
    yield p
    p.close()
    rclpy.shutdown()


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    # command_timeout 1 s: on a loaded machine the test's 10 Hz commands can arrive 0.2 s apart, and the hand,
    # stopped, would give identical frames
    node = NodeProcess("twin", tmp_path_factory.mktemp("twin"),
                       params={"task": "reach", "real_time": True, "command_timeout": 1.0}, node_name="twin_rec")
    node.wait_log("twin reach", 60)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def recorded(twin, probe, tmp_path_factory):
    """About three seconds of the twin recorded by a recorder process, with good and bad messages sent beside it."""
    tmp = tmp_path_factory.mktemp("recorded")
    out = tmp / "run"
    seen = probe.listen(Image, topics.IMAGE, topics.SENSOR)  # what the twin published, to compare with the files
    deep = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)  # four commands at once must all arrive
    cmd = probe.node.create_publisher(TwistStamped, topics.POLICY_COMMAND, deep)
    latent = probe.node.create_publisher(Image, topics.LATENT, topics.SENSOR)
    goal = probe.node.create_publisher(Image, topics.GOAL_IMAGE, topics.LATCHED)
    old = time.time() - 30.0  # a goal set half a minute ago is still the goal: latched topics are not aged
    goal.publish(conv.rgb_to_image(np.full((48, 48, 3), 7, np.uint8), old, "camera_color_optical_frame"))
    events = probe.node.create_publisher(DiagnosticStatus, topics.EPISODE_STATUS, topics.EVENTS)
    status = probe.listen(DiagnosticStatus, "/recorder/status", topics.EVENTS)
    rec = NodeProcess("recorder", tmp, params={"out": str(out), **SMALL_FILES})
    rec.wait_log("recording 9 topics", 60, probe)
    probe.spin_until(lambda: cmd.get_subscription_count() > 0 and latent.get_subscription_count() > 0, 20,
                     "the recorder subscribing")
    now = lambda: probe.node.get_clock().now().to_msg()  # noqa: E731
    sent = {"good": [], "nan": 0, "stale": 0, "no_stamp": 0}
    for i in range(3):
        good = conv.twist([0.01 * (i + 1), 0.0, 0.0], [0, 0, 0], now(), "base_link")
        sent["good"].append(good.twist.linear.x)
        cmd.publish(good)
        cmd.publish(conv.twist([math.nan, 0, 0], [0, 0, 0], now(), "base_link"))
        cmd.publish(conv.twist([0.5, 0, 0], [0, 0, 0], time.time() - 10.0, "base_link"))
        zero = conv.twist([0.2, 0, 0], [0, 0, 0], 0.0, "base_link")
        cmd.publish(zero)
        sent["nan"] += 1
        sent["stale"] += 1
        sent["no_stamp"] += 1
        bad_latent = conv.latent_to_image(np.zeros(8), now(), "cam")
        bad_latent.encoding = "rgb8"
        latent.publish(bad_latent)
        latent.publish(conv.latent_to_image(np.arange(8, dtype=np.float32), now(), "cam"))
        probe.spin(0.3)
    def images_written() -> int:
        values = {kv.key: kv.value for kv in status[-1][1].values} if status else {}
        return int(values.get(f"written {topics.IMAGE}", 0))

    arm = probe.node.create_publisher(TwistStamped, topics.ARM_COMMAND, topics.COMMAND)
    end = time.monotonic() + 30
    while not (images_written() >= 30 and len(seen) >= 15) and time.monotonic() < end:
        way = 1.0 if int(time.monotonic()) % 4 < 2 else -1.0  # to and fro: the hand moves, never stuck at an edge
        arm.publish(conv.twist([0.05 * way, 0.03 * way, 0.0], [0, 0, 0], now(), "base_link"))  # frames differ
        probe.spin(0.1)
        if images_written() >= 12 and not sent.get("event"):  # an episode starts in the middle of the recording
            events.publish(DiagnosticStatus(name="rigbot episode", message="episode 4 started",
                                            values=[KeyValue(key="episode", value="4")]))
            sent["event"] = True
    assert images_written() >= 30, rec.log()
    code = rec.stop(signal.SIGTERM)
    return {"out": out, "seen": seen, "sent": sent, "log": rec.log(), "code": code}


def test_recorder_writes_what_the_twin_published_into_rolling_self_contained_mcap_files(recorded):
    out, log = recorded["out"], recorded["log"]
    assert recorded["code"] == 0, log
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    files = [out / p for p in meta["relative_file_paths"]]
    assert len(files) >= 3, f"rolled over by size into {len(files)} files:\n{log}"
    assert sorted(files) == sorted(out.glob("*.mcap")), "every file closed and listed"
    for f, info in zip(files, meta["files"]):  # each file stands alone: mcap's seeking reader, via its summary
        with open(f, "rb") as stream:
            reader = make_reader(stream, decoder_factories=[DecoderFactory()])
            assert reader.get_header().profile == "ros2"
            decoded = list(reader.iter_decoded_messages())
        assert len(decoded) == info["message_count"] > 0
        assert all(s.encoding == "ros2msg" and c.message_encoding == "cdr" for s, c, _, _ in decoded)
    # the twin's images, byte for byte, with the stamps it gave them
    recorded_images = {}
    for m in read_recording(out, [topics.IMAGE]):
        msg = m.decode()
        assert m.publish_time == stamp_ns(msg) and m.log_time >= m.publish_time
        recorded_images[stamp_ns(msg)] = image_to_rgb(msg)
    published = {stamp_ns(m): conv.image_to_rgb(m) for _, m in recorded["seen"]}
    both = set(published) & set(recorded_images)
    assert len(recorded_images) >= 20 and len(both) >= 10, (len(recorded_images), len(published), len(both))
    assert all(np.array_equal(published[s], recorded_images[s]) for s in both)
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    for topic in (topics.IMAGE, topics.CAMERA_INFO, topics.EE_POSE, topics.JOINT_STATES):
        assert counts[topic] >= 20, counts
    qos = {t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"][0]
           for t in meta["topics_with_message_count"]}
    assert qos[topics.GOAL_IMAGE]["durability"] == "transient_local" and qos[topics.IMAGE]["reliability"] == "best_effort"


def test_recorder_refuses_stale_and_malformed_messages_and_says_so(recorded):
    out, log, sent = recorded["out"], recorded["log"], recorded["sent"]
    commands = [m.decode() for m in read_recording(out, [topics.POLICY_COMMAND])]
    assert sorted(c.twist.linear.x for c in commands) == sorted(sent["good"]), "only the good commands written"
    latents = [m.decode() for m in read_recording(out, [topics.LATENT])]
    assert latents and all(m.encoding == "32FC1" for m in latents)
    episode_events = [m.decode() for m in read_recording(out, [topics.EPISODE_STATUS])]
    assert [(e.message, e.values[0].value) for e in episode_events] == [("episode 4 started", "4")]
    goals = [m.decode() for m in read_recording(out, [topics.GOAL_IMAGE])]
    assert len(goals) == 1 and image_to_rgb(goals[0]).max() == 7, "the latched goal image, though old"
    custom = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]["custom_data"]
    refused = {k: int(v) for k, v in custom.items()}
    assert refused[f"refused {topics.POLICY_COMMAND}: NaN or Inf values"] == sent["nan"]
    assert refused[f"refused {topics.POLICY_COMMAND}: stale"] == sent["stale"]
    assert refused[f"refused {topics.POLICY_COMMAND}: no header stamp"] == sent["no_stamp"]
    assert any(k.startswith(f"refused {topics.LATENT}") for k in refused)
    assert "refused a message on /rigbot/policy/twist" in log and "stale: stamped " in log and "s before arrival" in log
    assert f"{sum(refused.values())} refused" in log


def test_rosbags_reads_the_folder_as_a_rosbag2_bag(recorded):
    """rosbags is an independent rosbag2 implementation: it opens the folder through metadata.yaml and decodes
    the CDR with its own message definitions (not the ones in the files)."""
    rosbags = pytest.importorskip("rosbags.highlevel")
    ours = {}
    for m in read_recording(recorded["out"]):
        ours[m.topic] = ours.get(m.topic, 0) + 1
    theirs, images = {}, 0
    with rosbags.AnyReader([recorded["out"]]) as reader:
        assert reader.message_count == sum(ours.values())
        for connection, _, raw in reader.messages():
            theirs[connection.topic] = theirs.get(connection.topic, 0) + 1
            if connection.topic == topics.IMAGE:
                msg = reader.deserialize(raw, connection.msgtype)
                assert (msg.height, msg.width, msg.encoding, len(msg.data)) == (48, 48, "rgb8", 48 * 48 * 3)
                images += 1
    assert theirs == ours and images > 0


def test_kill_9_keeps_closed_files_and_the_complete_chunks_of_the_open_one(twin, probe, tmp_path):
    out = tmp_path / "killed"
    rec = NodeProcess("recorder", tmp_path, params={"out": str(out), **SMALL_FILES}, node_name="recorder_killed")
    rec.wait_log("recording 9 topics", 60, probe)

    def listed():
        path = out / "metadata.yaml"
        return yaml.safe_load(path.read_text())["rosbag2_bagfile_information"]["files"] if path.exists() else []

    def open_file_size():
        names = {f["path"] for f in listed()}
        rest = [p for p in out.glob("*.mcap") if p.name not in names]
        return rest[0].stat().st_size if rest else 0

    probe.spin_until(lambda: len(listed()) >= 2 and open_file_size() > 4096, 30, "two closed files and a third")
    os.kill(rec.pid, signal.SIGKILL)
    killed_ns = time.time_ns()
    rec.proc.wait(10)
    rec.stop()
    closed = listed()
    reports = scan(out)
    assert len(reports) == len(closed) + 1
    for report, info in zip(reports, closed):
        assert report.complete and report.messages == info["message_count"] and report.lost_bytes == 0
    cut = reports[-1]
    assert not cut.complete and cut.messages > 0 and cut.chunks > 0
    assert cut.lost_bytes <= 2 * 4096 + 1024, "at most the record being written when it died"
    with open(cut.path, "rb") as stream, pytest.raises(McapError):  # mcap's own reader: nothing from it
        list(make_reader(stream).iter_messages())
    last = max(m.log_time for m in read_recording(cut.path))
    lost_s = (killed_ns - last) * 1e-9
    print(f"kill -9: {len(closed)} closed files, {cut.messages} messages recovered from the open one in "
          f"{cut.chunks} chunks, {cut.lost_bytes} bytes lost, the last {lost_s:.2f} s of messages lost")
    assert lost_s < SMALL_FILES["flush_seconds"] + 0.6, f"the last {lost_s:.2f} s were lost"
    for m in read_recording(cut.path, [topics.IMAGE]):  # what was recovered decodes
        assert image_to_rgb(m.decode()).shape == (48, 48, 3)


def test_a_file_cut_inside_a_chunk_gives_back_exactly_the_chunks_before_it(recorded, tmp_path):
    source = sorted(recorded["out"].glob("*.mcap"))[0]
    per_chunk = []  # mcap's own parser is the reference: messages in each chunk of the complete file
    with open(source, "rb") as f:
        for record in StreamReader(f, emit_chunks=True).records:
            if isinstance(record, Chunk):
                per_chunk.append(sum(isinstance(r, Message) for r in breakup_chunk(record)))
    with open(source, "rb") as f:
        chunk_offsets = [c.chunk_start_offset for c in make_reader(f).get_summary().chunk_indexes]
    assert len(per_chunk) >= 3
    data = source.read_bytes()
    for k in (1, len(per_chunk) - 1):
        cut = tmp_path / f"cut_{k}.mcap"
        cut.write_bytes(data[:chunk_offsets[k] + 100])  # the header of chunk k and a little of its body
        report = scan(cut)[0]
        assert (report.messages, report.chunks, report.complete) == (sum(per_chunk[:k]), k, False)
        assert "cut short" in report.stopped and report.lost_bytes == 100
        with open(cut, "rb") as stream, pytest.raises(McapError):
            for _ in NonSeekingReader(stream).iter_messages():
                pass


def test_dataset_convert_round_trip_keeps_images_byte_for_byte(recorded, tmp_path, capsys):
    frames_dir, back, again = tmp_path / "frames", tmp_path / "back", tmp_path / "again"
    assert rigbot_main(["dataset", "convert", str(recorded["out"]), str(frames_dir)]) == 0
    assert "frames in 2 episodes" in capsys.readouterr().out  # the episode event in the middle starts one
    frames = load_frames(frames_dir)
    assert read_meta(frames_dir)["task"] == "reach" and frames["images"].shape[1:] == (48, 48, 3)
    stamps = {}
    for m in read_recording(recorded["out"], [topics.IMAGE]):
        msg = m.decode()
        stamps[bytes(msg.data)] = stamp_ns(msg)
    assert all(im.tobytes() in stamps for im in frames["images"]), "each frame is a recorded image, unchanged"
    assert len({im.tobytes() for im in frames["images"]}) > len(frames["images"]) // 2, "the hand moved"
    first = np.flatnonzero(frames["episodes"] == frames["episodes"][-1])[0]
    assert 0 < first and np.array_equal(frames["steps"], np.r_[np.arange(first), np.arange(len(frames["steps"]) - first)])
    poses = {}
    for m in read_recording(recorded["out"], [topics.EE_POSE]):
        p = m.decode()
        poses[stamp_ns(p)] = [p.pose.position.x, p.pose.position.y, p.pose.position.z]
    for image, hand in zip(frames["images"], frames["observations"]):  # the twin stamps a frame and its pose alike
        stamp = stamps[image.tobytes()]
        if stamp in poses:  # (best effort: a pose may be missing, then a neighbour's is used)
            np.testing.assert_allclose(hand, poses[stamp])
    np.testing.assert_array_equal(frames["achieved_goals"], frames["observations"][:, :2])
    from rigbot.policy.training.offline import OfflineDataset  # what rigbot train --agent hiql --data makes of them

    offline = OfflineDataset.from_frames(frames, frames["observations"], frames["achieved_goals"], [0, 1], 0.2, 10.0)
    assert offline.transitions == len(frames["images"]) - 2  # one per frame but each episode's last
    assert np.abs(offline.action).max() > 0.1, "the commanded motion shows in the derived actions"
    # and back: frames -> MCAP -> frames
    assert rigbot_main(["dataset", "convert", str(frames_dir), str(back), "--to", "mcap"]) == 0
    assert rigbot_main(["dataset", "convert", str(back), str(again)]) == 0
    round_trip = load_frames(again)
    for key in ("images", "episodes", "steps", "observations", "achieved_goals"):
        assert np.array_equal(round_trip[key], frames[key]), key


def test_collected_dataset_round_trip_keeps_episodes(tmp_path):
    from rigbot.perception.collect import collect

    collect("reach", 36, tmp_path / "collected", seed=1, episode_steps=5, progress=False)
    frames_to_recording(tmp_path / "collected", tmp_path / "rec")
    report = recording_to_frames(tmp_path / "rec", tmp_path / "back")
    a, b = load_frames(tmp_path / "collected"), load_frames(tmp_path / "back")
    assert report["episodes"] == 6 and not report["skipped"]
    assert a["images"].tobytes() == b["images"].tobytes()
    assert np.array_equal(a["episodes"], b["episodes"]) and np.array_equal(a["steps"], b["steps"])
    np.testing.assert_array_equal(a["observations"][:, :3], b["observations"])


def test_episode_events_cut_episodes(tmp_path):
    """A robot run with no pause between episodes: the episode manager's events say where each one starts."""
    rec = tmp_path / "episodes"
    with McapFolderWriter(rec) as w:
        w.add_topic(topics.IMAGE, "sensor_msgs/Image")
        w.add_topic(topics.EE_POSE, "geometry_msgs/PoseStamped")
        w.add_topic(topics.EPISODE_STATUS, "diagnostic_msgs/DiagnosticStatus")
        for i in range(30):
            t = 2000 * 10**9 + i * 10**8  # 10 Hz, no gaps
            if i % 10 == 0:
                event = DiagnosticStatus(message="started", values=[KeyValue(key="episode", value=str(7 + i // 10))])
                w.write(topics.EPISODE_STATUS, serialize_message(event), t - 10**6)
            image = conv.rgb_to_image(np.full((48, 48, 3), i, np.uint8), t * 1e-9, "cam")
            w.write(topics.IMAGE, serialize_message(image), t, t)
            w.write(topics.EE_POSE, serialize_message(conv.pose([0.4, 0.01 * i, 0.1], t * 1e-9, "base")), t, t)
    report = recording_to_frames(rec, tmp_path / "frames")
    frames = load_frames(tmp_path / "frames")
    assert report["episodes"] == 3 and not report["skipped"]
    assert np.array_equal(frames["episodes"], np.repeat([0, 1, 2], 10))
    assert np.array_equal(frames["steps"], np.tile(np.arange(10), 3))
    assert [int(im[0, 0, 0]) for im in frames["images"]] == list(range(30))


def test_summary_and_contact_sheet(recorded, tmp_path, capsys):
    assert rigbot_main(["dataset", "summary", str(recorded["out"])]) == 0
    text = capsys.readouterr().out
    n_images = sum(1 for _ in read_recording(recorded["out"], [topics.IMAGE]))
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(topics.IMAGE))
    count, rate = line.split()[2], float(line.split()[3])
    assert int(count) == n_images and 7.0 < rate < 13.0, line  # the twin runs at 10 Hz
    assert text.count("complete") == len(list(recorded["out"].glob("*.mcap")))
    assert "refused" in text
    sheet = tmp_path / "sheet.png"
    assert rigbot_main(["dataset", "sheet", str(recorded["out"]), "--out", str(sheet), "--count", "8"]) == 0
    image = media.read_image(sheet)
    assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 20
    frames_dir = tmp_path / "frames"
    recording_to_frames(recorded["out"], frames_dir)
    assert rigbot_main(["dataset", "summary", str(frames_dir)]) == 0
    assert "frame dataset, task reach, 48 x 48" in capsys.readouterr().out
    assert rigbot_main(["dataset", "sheet", str(frames_dir), "--out", str(tmp_path / "d.png")]) == 0


def test_bad_inputs_give_clear_errors(recorded, tmp_path, capsys):
    def error(*argv) -> str:
        assert rigbot_main(list(argv)) == 2
        return capsys.readouterr().err

    assert "no such" in error("dataset", "summary", str(tmp_path / "nothing"))
    assert "no such" in error("dataset", "convert", str(tmp_path / "nothing"), str(tmp_path / "x"))
    assert "no .mcap files" in error("dataset", "summary", str(tmp_path))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "junk_0.mcap").write_bytes(os.urandom(2000))
    assert "junk_0.mcap: not an MCAP file" in error("dataset", "summary", str(junk))
    # a chunk whose bytes were damaged is reported, and reading stops there
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    source = sorted(recorded["out"].glob("*.mcap"))[0]
    data = bytearray(source.read_bytes())
    with open(source, "rb") as f:
        second = make_reader(f).get_summary().chunk_indexes[1]
    data[second.chunk_start_offset + second.chunk_length - 40] ^= 0xFF
    (damaged / "damaged_0.mcap").write_bytes(bytes(data))
    assert rigbot_main(["dataset", "summary", str(damaged)]) == 0
    assert "a chunk is corrupt" in capsys.readouterr().out
    # images in an encoding that is not a colour image
    wrong = tmp_path / "wrong"
    with McapFolderWriter(wrong) as w:
        w.add_topic(topics.IMAGE, "sensor_msgs/Image")
        w.add_topic(topics.EE_POSE, "geometry_msgs/PoseStamped")
        for i in range(3):
            t = (1000 + i) * 10**9
            depth = conv.rgb_to_image(np.zeros((4, 4, 3), np.uint8), t * 1e-9, "cam")
            depth.encoding = "32FC1"
            w.write(topics.IMAGE, serialize_message(depth), t, t)
            w.write(topics.EE_POSE, serialize_message(conv.pose([0.4, 0, 0.1], t * 1e-9, "base")), t, t)
    msg = error("dataset", "convert", str(wrong), str(tmp_path / "frames"))
    assert "none of its 3 images became a frame" in msg and "'32FC1' is not an 8-bit colour encoding" in msg
    assert not (tmp_path / "frames" / "meta.yaml").exists()
    assert "no messages on /camera/other" in error("dataset", "convert", str(recorded["out"]), str(tmp_path / "f2"),
                                                   "--image-topic", "/camera/other")
    assert "meta.yaml: missing" in error("dataset", "convert", str(junk), str(tmp_path / "m"), "--to", "mcap")
    assert "--roi" in error("dataset", "convert", str(recorded["out"]), str(tmp_path / "f3"), "--roi", "1,2")
    assert "already holds a recording" in error("record", "--out", str(recorded["out"]))


@pytest.mark.parametrize("cls,fill", [
    (Image, lambda m: (setattr(m, "height", 2), setattr(m, "width", 1), setattr(m, "encoding", "rgb8"),
                       setattr(m, "step", 3), setattr(m, "data", bytes(range(6))))),
    (CameraInfo, lambda m: (setattr(m, "width", 640), setattr(m, "d", [0.1, -0.2, 0.0, 0.0, 0.01]),
                            setattr(m, "k", [600.0, 0, 320, 0, 601, 240, 0, 0, 1]), setattr(m.roi, "do_rectify", True))),
    (JointState, lambda m: (setattr(m, "name", ["a", "b"]), setattr(m, "position", [0.1, -0.2]),
                            setattr(m, "velocity", [1.5, 2.5]))),
    (TwistStamped, lambda m: (setattr(m.twist.linear, "x", 0.1), setattr(m.twist.angular, "z", -0.3))),
    (PoseStamped, lambda m: (setattr(m.pose.position, "y", 0.25), setattr(m.pose.orientation, "w", 0.5))),
    (PointStamped, lambda m: setattr(m.point, "z", -1.25)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_message_definitions_match_rclpys_types(cls, fill):
    """rigbot's .msg texts against the installed ROS 2 messages: same fields, and CDR that both sides read."""
    msg = cls()
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 1234, 5678, "frame"
    fill(msg)
    type_name = f"{cls.__module__.split('.')[0]}/{cls.__name__}"
    fields = [ln.split()[1] for ln in DEFINITIONS[type_name].splitlines()]
    assert fields == list(cls.get_fields_and_field_types()), type_name
    ours = cdr.decode(type_name, serialize_message(msg))  # rclpy -> our definition
    assert _as_dict(ours) == _as_dict(msg)
    assert deserialize_message(cdr.encode(type_name, ours), cls) == msg  # our definition -> rclpy


def _as_dict(m):
    if hasattr(m, "get_fields_and_field_types"):
        return {k: _as_dict(getattr(m, k)) for k in m.get_fields_and_field_types()}
    if hasattr(m, "__slots__") and not isinstance(m, (str, bytes)):
        return {k: _as_dict(getattr(m, k)) for k in m.__slots__}
    if isinstance(m, (bytes, bytearray, memoryview)):
        return list(bytes(m))
    if isinstance(m, (list, tuple, np.ndarray)) or type(m).__name__ == "array":
        return [_as_dict(v) for v in m]
    return m


def test_every_definition_has_the_fields_and_types_of_the_installed_message():
    import importlib
    import re

    def rclpy_form(field_type: str, package: str) -> str:
        m = re.match(r"^([\w/]+)(\[(\d*)\])?$", field_type)
        base, array, size = m.group(1), m.group(2), m.group(3)
        base = {"float64": "double", "float32": "float", "bool": "boolean", "byte": "octet"}.get(base, base)
        if base[0].isupper():  # a message of the same package
            base = f"{package}/{base}"
        if array is None:
            return base
        return f"{base}[{size}]" if size else f"sequence<{base}>"

    for type_name, text in DEFINITIONS.items():
        package, name = type_name.split("/")
        cls = getattr(importlib.import_module(f"{package}.msg"), name)
        ours = {ln.split()[1]: rclpy_form(ln.split()[0], package) for ln in text.splitlines() if "=" not in ln}
        assert ours == cls.get_fields_and_field_types(), type_name
