"""Recordings <-> the frame-dataset training format (``rigbot.perception.frame_dataset``).

Recording -> dataset (what ``rigbot vae train --data`` and ``rigbot train --agent hiql --data`` read):

- **images**: the camera topic's frames, decoded (rgb8/bgr8/rgba8/bgra8/mono8) and brought to the model's size by
  ``perception.preprocessing.preprocess`` (crop to ``roi``, resize); a frame that already is ``image_size``
  square without a ``roi`` is kept byte for byte.
- **rate**: frames are thinned to at most ``rate`` per second (default 10, the control rate): offline learning
  derives each action from the hand's motion between consecutive frames times the control rate, so frames must
  be one control step apart. ``rate=0`` keeps every frame.
- **observations**: the hand position (x, y, z) from the hand-pose topic, the pose whose header stamp is nearest
  the image's, if within ``max_skew``; images without one are skipped (counted). **achieved_goals**: the hand's
  x, y (reach's goal space).
- **episodes / steps**: a new episode starts where the episode manager's events (``diagnostic_msgs/
  DiagnosticStatus`` on ``/rigbot/episode/status`` with an ``episode`` value, at their arrival time) say the
  episode number changed, where consecutive kept frames are more than ``episode_gap`` apart (the recorder was
  stopped, the robot paused), or after ``episode_steps`` steps (if set).

Stamps are the messages' header stamps. Frames out of stamp order, undecodable, or without a hand pose are
skipped and counted in the returned report; a recording with no usable frame is an error that says why. Hand
poses that do not decode, are not finite, lie more than ``MAX_HAND_DISTANCE_M`` from the base or whose
orientation is not a unit quaternion are refused (counted, the first named by file and stamp): they never become
observations, nor the actions offline learning derives from the hand's motion.

Dataset -> recording (``--to mcap``): each frame becomes an rgb8 ``sensor_msgs/Image`` on the camera topic and a
``PoseStamped`` of its hand position, ``1 / control_hz`` apart within an episode and ``episode_gap_out`` between
episodes, so converting back gives the same images, episodes and steps (observations keep the hand position only).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rigbot.limits import MAX_HAND_DISTANCE_M
from rigbot.recording import cdr, rosbag2_metadata
from rigbot.recording.image_messages import BadImageMessage, image_to_rgb, rgb_to_image, stamp_ns
from rigbot.recording.mcap_folder_writer import McapFolderWriter
from rigbot.recording.mcap_reading import RecordingError, expect_type, read_recording

# the default topic names of rigbot_ros.topics (not imported: this module runs without ROS)
IMAGE_TOPIC = "/camera/camera/color/image_raw"
POSE_TOPIC = "/rigbot/ee_pose"
EPISODE_TOPIC = "/rigbot/episode/status"
_TASK_KEY = "rigbot.task"


# What a hand pose must be to become training data: within MAX_HAND_DISTANCE_M of the base (the frame dataset's
# own bound), and an orientation that is a unit quaternion (a recording from elsewhere may hold NaN, 1e300, or
# an all-zero quaternion).
QUATERNION_NORM_TOLERANCE = 0.01
_POSE_TYPES = ("geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PointStamped")
_IMAGE_TYPES = ("sensor_msgs/msg/Image",)


def pose_problem(position, orientation=None) -> str:
    """Why a hand pose cannot be training data ('' when it can): not finite, too far, not a rotation."""
    p = np.asarray(position, np.float64)
    if not np.all(np.isfinite(p)):
        return f"position {tuple(p.tolist())} is not finite"
    if np.abs(p).max() > MAX_HAND_DISTANCE_M:
        return f"position {tuple(p.tolist())} is more than {MAX_HAND_DISTANCE_M:g} m from the base"
    if orientation is not None:
        q = np.asarray(orientation, np.float64)
        if not np.all(np.isfinite(q)) or abs(np.linalg.norm(q) - 1.0) > QUATERNION_NORM_TOLERANCE:
            return f"orientation {tuple(q.tolist())} is not a unit quaternion"
    return ""


def _hand_track(recording: str | Path, pose_topic: str) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Stamps and positions of the usable hand poses, sorted by stamp; how many were refused, and why the
    first one was (poses that do not decode, or are not finite, physical positions and rotations)."""
    stamps, positions = [], []
    refused, first = 0, ""
    for m in read_recording(recording, [pose_topic]):
        expect_type(m, _POSE_TYPES, "hand poses")
        try:
            msg = m.decode()
            p = msg.pose.position if hasattr(msg, "pose") else msg.point
            q = msg.pose.orientation if hasattr(msg, "pose") else None
            position = (p.x, p.y, p.z)
            problem = pose_problem(position, (q.x, q.y, q.z, q.w) if q is not None else None)
            where = f"{m.file}: {pose_topic} at stamp {stamp_ns(msg)} ns"
        except RecordingError as e:
            problem, where = str(e), ""
        if problem:
            refused += 1
            first = first or (f"{where}: {problem}" if where else problem)
            continue
        stamps.append(stamp_ns(msg))
        positions.append(position)
    order = np.argsort(np.asarray(stamps, np.int64), kind="stable")
    return (np.asarray(stamps, np.int64)[order], np.asarray(positions, np.float64).reshape(-1, 3)[order],
            refused, first)


def _episode_track(recording: str | Path, episode_topic: str) -> tuple[np.ndarray, list[str]]:
    """Arrival times and episode numbers of the episode manager's events (empty when none were recorded)."""
    times, episodes = [], []
    for m in read_recording(recording, [episode_topic]):
        expect_type(m, ("diagnostic_msgs/msg/DiagnosticStatus",), "episode events")
        values = {str(kv.key): str(kv.value) for kv in m.decode().values}
        if "episode" in values:
            times.append(m.log_time)
            episodes.append(values["episode"])
    order = np.argsort(np.asarray(times, np.int64), kind="stable")
    return np.asarray(times, np.int64)[order], [episodes[i] for i in order]


def recording_task(recording: str | Path) -> str | None:
    """The twin task a recording was converted from, if it says (``custom_data`` of its metadata.yaml)."""
    path = Path(recording)
    meta = rosbag2_metadata.read(path) if path.is_dir() else None
    return ((meta or {}).get("custom_data") or {}).get(_TASK_KEY)


def recording_to_frames(recording: str | Path, out: str | Path, task: str | None = None, image_size: int = 48,
                        roi: tuple[int, int, int, int] | None = None, rate: float = 10.0,
                        episode_gap: float = 1.0, episode_steps: int = 0, max_skew: float = 0.1,
                        image_topic: str = IMAGE_TOPIC, pose_topic: str = POSE_TOPIC,
                        episode_topic: str = EPISODE_TOPIC, chunk_size: int = 1000) -> dict:
    """Convert a recording into (or append it to) the frame dataset folder ``out``; returns a report."""
    from rigbot.perception.frame_dataset import FrameWriter
    from rigbot.perception.preprocessing import PreprocessConfig, preprocess

    task = task or recording_task(recording) or "reach"
    if task != "reach":
        raise ValueError(f"task {task!r}: its goal space includes objects (the puck) whose positions a recording "
                         "does not hold; recordings convert to reach datasets")
    hand_t, hand_p, refused_poses, first_refused = _hand_track(recording, pose_topic)
    if len(hand_t) == 0 and refused_poses:
        raise RecordingError(f"{recording}: no usable hand pose on {pose_topic} ({refused_poses} refused; first: "
                             f"{first_refused})")
    if len(hand_t) == 0:
        raise ValueError(f"{recording}: no hand poses on {pose_topic}; frames need the hand position (record "
                         "the hand-pose topic, or pass the topic it is on)")
    event_t, event_episode = _episode_track(recording, episode_topic)
    label = None  # the episode manager's episode number at the last kept frame
    pre = PreprocessConfig(size=image_size, roi=tuple(roi) if roi else None)
    skipped: dict[str, int] = {}
    reports: list = []
    kept_t: int | None = None
    step = seen = 0
    first_error = ""
    min_dt = 0.75e9 / rate if rate > 0 else 0  # 3/4 of a period: keeps every 3rd frame of 30 Hz for 10 Hz

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    first_image = next(iter(read_recording(recording, [image_topic])), None)
    if first_image is not None:  # a topic of another type is an error before anything is written
        expect_type(first_image, _IMAGE_TYPES, "camera images")
    meta = {"task": task, "image_size": image_size, "source": f"recording {Path(recording).resolve()}",
            "policy": "recorded", "rate": rate}
    with FrameWriter(out, meta, chunk_size=chunk_size) as writer:
        first_episode = episode = writer.next_episode
        for m in read_recording(recording, [image_topic], reports=reports):
            seen += 1
            try:
                expect_type(m, _IMAGE_TYPES, "camera images")  # (a later file may say otherwise)
                msg = m.decode()
            except RecordingError as e:  # counted and reported like an image that decodes but is no image
                first_error = first_error or str(e)
                skip("undecodable image")
                continue
            t = stamp_ns(msg)
            if kept_t is not None and t <= kept_t:
                skip("stamp not after the previous frame's")
                continue
            if kept_t is not None and t - kept_t < min_dt:
                skip(f"thinned to {rate:g} frames/s")
                continue
            i = int(np.searchsorted(hand_t, t))
            near = [j for j in (i - 1, i) if 0 <= j < len(hand_t)]
            j = min(near, key=lambda k: abs(int(hand_t[k]) - t))
            if abs(int(hand_t[j]) - t) > max_skew * 1e9:
                skip(f"no hand pose within {max_skew:g} s")
                continue
            try:
                rgb = image_to_rgb(msg)
                frame = rgb if (rgb.shape[:2] == (image_size, image_size) and roi is None) else preprocess(rgb, pre)
            except (BadImageMessage, ValueError) as e:
                first_error = first_error or str(e)
                skip("undecodable image")
                continue
            k = int(np.searchsorted(event_t, t, side="right")) - 1
            now_label = event_episode[k] if k >= 0 else None
            if kept_t is not None and (t - kept_t > episode_gap * 1e9 or (episode_steps and step >= episode_steps)
                                       or now_label != label):
                episode, step = episode + 1, 0
            label = now_label
            hand = hand_p[j]
            writer.add(frame, hand, hand[:2], episode, step)
            kept_t, step = t, step + 1
    written = writer.frames_written
    if written == 0 and not any(Path(out).glob("chunk_*.npz")):  # leave no empty dataset behind
        (Path(out) / "meta.yaml").unlink(missing_ok=True)
    if seen == 0:
        raise ValueError(f"{recording}: no messages on {image_topic}; topics recorded: "
                         f"{', '.join(sorted({t for r in reports for t in r.topics})) or 'none'}")
    if written == 0:
        why = "; ".join(f"{n} {r}" for r, n in skipped.items())
        raise ValueError(f"{recording}: none of its {seen} images became a frame ({why})"
                         + (f"; first image error: {first_error}" if first_error else ""))
    return {"frames": written, "episodes": episode - first_episode + 1, "images_seen": seen, "skipped": skipped,
            "first_image_error": first_error, "refused_poses": refused_poses, "first_refused_pose": first_refused,
            "out": str(out),
            "files": [(r.path.name, r.complete, r.messages, r.lost_bytes) for r in reports]}


def frames_to_recording(dataset: str | Path, out: str | Path, control_hz: float = 10.0,
                        episode_gap_out: float = 2.0, start_ns: int | None = None,
                        image_topic: str = IMAGE_TOPIC, pose_topic: str = POSE_TOPIC,
                        frame_id: str = "base_link", camera_frame_id: str = "camera_color_optical_frame") -> dict:
    """Write a frame dataset as a recording folder ``out`` (images + hand poses); returns a report."""
    from rigbot.perception.frame_dataset import load_frames, read_meta

    meta = read_meta(dataset)
    frames = load_frames(dataset)
    order = np.lexsort((frames["steps"], frames["episodes"]))
    writer = McapFolderWriter(out, file_metadata={"source": f"frame dataset {Path(dataset).resolve()}"})
    writer.add_topic(image_topic, "sensor_msgs/Image", {"reliability": "best_effort"})
    writer.add_topic(pose_topic, "geometry_msgs/PoseStamped", {"reliability": "best_effort"})
    writer.set_custom_data(_TASK_KEY, meta.get("task", "reach"))
    period = int(round(1e9 / control_hz))
    t = int(start_ns if start_ns is not None else time.time_ns() // 1_000_000_000 * 1_000_000_000)
    previous_episode = None
    with writer:
        for i in order:
            episode = int(frames["episodes"][i])
            if previous_episode is not None:
                t += int(episode_gap_out * 1e9) if episode != previous_episode else period
            previous_episode = episode
            hand = frames["observations"][i][:3]
            pose = {"header": {"stamp": {"sec": t // 1_000_000_000, "nanosec": t % 1_000_000_000},
                               "frame_id": frame_id},
                    "pose": {"position": {"x": float(hand[0]), "y": float(hand[1]), "z": float(hand[2])},
                             "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}}}
            writer.write(image_topic, cdr.encode("sensor_msgs/Image",
                                                 rgb_to_image(frames["images"][i], t, camera_frame_id)), t, t)
            writer.write(pose_topic, cdr.encode("geometry_msgs/PoseStamped", pose), t, t)
    return {"frames": len(order), "episodes": len(np.unique(frames["episodes"])), "out": str(out),
            "files": [p.name for p in writer.files]}
