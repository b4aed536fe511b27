"""``rigbot record`` (the recorder node, ROS 2) and ``rigbot dataset convert|summary|sheet`` (no ROS)."""
from __future__ import annotations

import argparse
from pathlib import Path

RECORDER_DEFAULTS = ("camera image + camera_info, latent, goal image, policy and arm commands, hand pose, joints, "
                     "episode events")


def register(sub) -> None:
    p = sub.add_parser("record", help="record the robot's topics to MCAP files (ros2 bag play / Foxglove open them)",
                       description="Start the recorder node: it subscribes to the run's topics (" + RECORDER_DEFAULTS
                       + ") and writes them, with their header stamps, into a folder of MCAP files with ROS 2 "
                       "schemas and a rosbag2 metadata.yaml. Files roll over by size and time; a killed recorder "
                       "loses at most its last chunk (about half a second). Stale and malformed messages are "
                       "refused, counted and reported, never written as good data. Stop it with Ctrl-C.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  rigbot record --out recordings/monday\n"
                              "  rigbot record --topics /camera/camera/color/image_raw /rigbot/ee_pose --duration 60\n"
                              "  ros2 bag play recordings/monday      # with ROS 2 and its MCAP storage plugin")
    p.add_argument("--out", metavar="DIR", help="recording folder, must not hold a recording yet "
                   "(default recordings/run_YYYYmmdd_HHMMSS)")
    p.add_argument("--topics", nargs="+", metavar="TOPIC", help="record only these (default: all the recorder knows)")
    p.add_argument("--max-size", type=float, default=1024.0, metavar="MB", help="new file at this size (default 1024)")
    p.add_argument("--max-duration", type=float, default=600.0, metavar="S",
                   help="new file after this many seconds (default 600)")
    p.add_argument("--duration", type=float, default=0.0, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--compression", choices=["none", "zstd", "lz4"], default="none",
                   help="chunk compression (default none: spares the robot's CPU)")
    p.add_argument("--max-age", type=float, default=1.0, metavar="S",
                   help="refuse messages stamped more than S seconds before (or after) arrival (default 1)")
    p.add_argument("ros_args", nargs=argparse.REMAINDER, help="--ros-args -r FROM:=TO ... (remap topics)")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("dataset", help="convert recordings to training data and back; summary; contact sheet",
                       description="Work with recordings (folders made by 'rigbot record', or any rosbag2 MCAP "
                                   "folder or .mcap file) and frame datasets (made by 'rigbot collect' or "
                                   "'rigbot dataset convert').")
    ds = p.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    c = ds.add_parser("convert", help="recording -> frame dataset (for rigbot vae train / train --agent hiql), "
                                      "or back with --to mcap",
                      description="Recording -> frame dataset: camera frames (preprocessed to --image-size), "
                                  "each with the hand position nearest in time, thinned to --rate frames/s, cut "
                                  "into episodes at pauses longer than --episode-gap. Appends if OUT_DIR is a "
                                  "dataset already. With --to mcap: frame dataset -> recording (images and hand "
                                  "poses at --control-hz), which converts back to the same images.")
    c.add_argument("source", metavar="SOURCE_DIR", help="recording folder (or .mcap file); with --to mcap a dataset")
    c.add_argument("out", metavar="OUT_DIR", help="dataset folder; with --to mcap a new recording folder")
    c.add_argument("--to", choices=["frames", "mcap"], default="frames", help="target format (default frames)")
    c.add_argument("--task", choices=["reach"], help="task the frames are for (default: what the recording "
                   "says, else reach)")
    c.add_argument("--image-size", type=int, default=48, metavar="N", help="model image side (default 48)")
    c.add_argument("--roi", metavar="X,Y,W,H", help="crop of the raw frame before resizing (default: centred "
                   "square; use the calibration's roi)")
    c.add_argument("--rate", type=float, default=10.0, metavar="HZ",
                   help="keep at most this many frames per second: the control rate (default 10; 0: all)")
    c.add_argument("--episode-gap", type=float, default=1.0, metavar="S",
                   help="a pause longer than this starts a new episode (default 1)")
    c.add_argument("--episode-steps", type=int, default=0, metavar="N",
                   help="also cut episodes after N steps (default: no limit)")
    c.add_argument("--max-skew", type=float, default=0.1, metavar="S",
                   help="a frame needs a hand pose stamped within S seconds of it (default 0.1)")
    c.add_argument("--image-topic", default="/camera/camera/color/image_raw")
    c.add_argument("--pose-topic", default="/rigbot/ee_pose")
    c.add_argument("--episode-topic", default="/rigbot/episode/status",
                   help="the episode manager's events: a new episode starts where its episode number changes")
    c.add_argument("--control-hz", type=float, default=10.0, help="--to mcap: frames per second (default 10)")
    c.set_defaults(func=cmd_convert)
    s = ds.add_parser("summary", help="topics, counts, rates, duration, gaps and files of a recording (or a "
                                      "dataset's frames and episodes)",
                      description="Read every file of a recording (recovering files a crash cut short) and print "
                                  "per topic its type, count, rate and gaps, and per file its size and state.")
    s.add_argument("path", metavar="DIR")
    s.set_defaults(func=cmd_summary)
    s = ds.add_parser("sheet", help="a contact sheet PNG: frames sampled over time, with their times",
                      description="Draw COUNT camera frames sampled evenly over a recording (or a dataset), "
                                  "labelled with the time since the start (or episode and step).")
    s.add_argument("path", metavar="DIR")
    s.add_argument("--out", default="sheet.png", metavar="PNG", help="output file (default sheet.png)")
    s.add_argument("--count", type=int, default=16, help="frames to show (default 16)")
    s.add_argument("--columns", type=int, default=4)
    s.add_argument("--image-topic", default="/camera/camera/color/image_raw")
    s.set_defaults(func=cmd_sheet)


def cmd_record(args) -> int:
    from rigbot_ros import recorder_node

    ros = ["-p", f"max_file_mb:={args.max_size}", "-p", f"max_file_seconds:={args.max_duration}",
           "-p", f"duration:={float(args.duration)}", "-p", f"compression:={args.compression}",
           "-p", f"max_age:={float(args.max_age)}"]
    if args.out:
        if Path(args.out).exists() and (any(Path(args.out).glob("*.mcap")) or (Path(args.out) / "metadata.yaml").exists()):
            raise ValueError(f"{args.out} already holds a recording; choose another --out")
        ros += ["-p", f"out:={args.out}"]
    if args.topics:
        ros += ["-p", "topics:=[" + ",".join(args.topics) + "]"]
    extra = [a for a in args.ros_args if a != "--ros-args"]
    return recorder_node.main(["rigbot record", "--ros-args", *ros, *extra])


def _roi(text: str | None):
    if not text:
        return None
    try:
        roi = tuple(int(v) for v in text.split(","))
    except ValueError:
        roi = ()
    if len(roi) != 4 or min(roi) < 0 or roi[2] == 0 or roi[3] == 0:
        raise ValueError(f"--roi {text!r}: give X,Y,W,H in pixels, e.g. 80,0,480,480")
    return roi


def cmd_convert(args) -> int:
    from rigbot.recording.dataset_conversion import MAX_HAND_DISTANCE_M, frames_to_recording, recording_to_frames

    if not Path(args.source).exists():
        raise FileNotFoundError(f"{args.source}: no such folder")
    if args.to == "mcap":
        r = frames_to_recording(args.source, args.out, control_hz=args.control_hz, image_topic=args.image_topic,
                                pose_topic=args.pose_topic)
        print(f"{r['frames']} frames of {r['episodes']} episodes written to {r['out']} ({', '.join(r['files'])})")
        return 0
    r = recording_to_frames(args.source, args.out, task=args.task, image_size=args.image_size, roi=_roi(args.roi),
                            rate=args.rate, episode_gap=args.episode_gap, episode_steps=args.episode_steps,
                            max_skew=args.max_skew, image_topic=args.image_topic, pose_topic=args.pose_topic,
                            episode_topic=args.episode_topic)
    print(f"{r['frames']} frames in {r['episodes']} episodes written to {r['out']} "
          f"(from {r['images_seen']} images; format: rigbot.perception.frame_dataset)")
    if r["refused_poses"]:  # never training data: say how many, and which was the first
        print(f"  refused {r['refused_poses']} hand poses on {args.pose_topic} (undecodable, not finite, more than "
              f"{MAX_HAND_DISTANCE_M:g} m away, or not a unit quaternion); first: {r['first_refused_pose']}")
    for reason, n in r["skipped"].items():
        print(f"  skipped {n} images: {reason}")
    if r["first_image_error"]:
        print(f"  first image error: {r['first_image_error']}")
    for name, complete, messages, lost in r["files"]:
        if not complete:
            print(f"  {name} was cut short (the recorder was killed): {messages} messages recovered, "
                  f"{lost} bytes at its end lost")
    print(f"next: rigbot vae train --data {r['out']}   or   rigbot train --agent hiql --data {r['out']}")
    return 0


def cmd_summary(args) -> int:
    from rigbot.recording.summary import format_summary, summarize

    print(format_summary(summarize(args.path)))
    return 0


def cmd_sheet(args) -> int:
    from rigbot.recording.summary import contact_sheet

    if not Path(args.path).exists():
        raise FileNotFoundError(f"{args.path}: no such recording or dataset")
    print(f"contact sheet: {contact_sheet(args.path, args.out, count=args.count, columns=args.columns, image_topic=args.image_topic)}")
    return 0
