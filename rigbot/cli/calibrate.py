"""``rigbot calibrate ...``: board, capture, intrinsics, handeye, workspace, align. See the README's Calibration section."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rigbot.config import nonnegative_float, positive_float, positive_int

EPILOG = """a calibration, in order (a deployment file collects the results; see the README):
  rigbot calibrate board --chessboard 9x6 --square 0.025 --out board.png          print it, measure a square
  rigbot calibrate capture --camera realsense --chessboard 9x6 --square 0.025 --out calib/intrinsics
  rigbot calibrate intrinsics calib/intrinsics --chessboard 9x6 --square 0.025 --out calib/camera_info.yaml \\
      --deployment calib/deployment.yaml
  rigbot calibrate handeye --poses calib/handeye/poses.csv --chessboard 9x6 --square 0.025 \\
      --deployment calib/deployment.yaml
  rigbot calibrate workspace --poses calib/corners.csv --margin 0.02 --roi auto --deployment calib/deployment.yaml
  rigbot calibrate align --deployment calib/deployment.yaml --camera realsense --out calib/twin
"""


def _add_board_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("calibration board")
    kind = g.add_mutually_exclusive_group(required=True)
    kind.add_argument("--chessboard", metavar="CxR", help="a chessboard by its inner corners, e.g. 9x6 (one odd and one "
                                                          "even count makes its origin unambiguous)")
    kind.add_argument("--charuco", metavar="CxR", help="a ChArUco board by its squares, e.g. 7x5")
    g.add_argument("--square", type=positive_float, required=True, metavar="M",
                   help="side of one square in metres, as printed")
    g.add_argument("--marker", type=positive_float, metavar="M", help="ChArUco only: side of one marker in metres")
    g.add_argument("--dictionary", default="DICT_5X5_100", help="ChArUco only: ArUco dictionary (default DICT_5X5_100)")


def _board(args):
    from rigbot.calibration.boards import make_board

    return make_board(args.chessboard, args.square, args.charuco, args.marker, args.dictionary)


def _image_files(paths: list[str]) -> list[Path]:
    import re

    from rigbot.perception.opencv_camera import IMAGE_SUFFIXES

    def natural(f: Path):  # board_2 before board_10
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f.name)]

    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES), key=natural)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such image file or folder")
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(paths)}")
    return files


def _triple(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"expected x,y,z in metres, got {text!r}")
    return values


def cmd_board(args) -> int:
    from rigbot import media

    board = _board(args)
    square_px = max(8, int(round(args.square / 0.0254 * args.dpi)))
    picture = board.image(square_px, margin_squares=0.5)  # a quiet border the detector needs, and little more
    media.write_png(args.out, np.repeat(picture.pixels[..., None], 3, axis=2))
    h, w = picture.pixels.shape
    print(f"{board.describe()} written to {args.out}: {w} x {h} px; printed at {args.dpi} dpi it is "
          f"{w / args.dpi * 25.4:.0f} x {h / args.dpi * 25.4:.0f} mm. Print at 100 % scale, glue it flat onto "
          "something stiff, then measure a square and pass that to --square."
          + (" It is larger than A4 (297 x 210 mm): use a smaller --square or a larger sheet." if max(w, h) / args.dpi
             * 25.4 > 297 or min(w, h) / args.dpi * 25.4 > 210 else ""))
    return 0


def cmd_capture(args) -> int:
    from rigbot.calibration.capture import capture_board_images
    from rigbot.perception.camera import open_camera

    board = _board(args)
    print(f"looking for the {board.describe()} in {args.camera}; move it to a new pose (tilted, near, far, in every "
          f"part of the image) after each saved image. Ctrl-C stops.")
    with open_camera(args.camera) as camera:
        try:
            summary = capture_board_images(camera, board, args.out, count=args.count, min_move_px=args.min_move,
                                           max_frames=args.max_frames,
                                           on_saved=lambda p, n: print(f"  {n}/{args.count} saved {p}", flush=True))
        except KeyboardInterrupt:
            print("stopped")
            return 0
    print(f"{len(summary.saved)} image(s) saved in {args.out} from {summary.frames_read} frames ({summary.ended})")
    for reason, n in summary.rejected.most_common():
        print(f"  {n} frame(s) not kept: {reason}")
    return 0 if summary.saved else 1


def cmd_intrinsics(args) -> int:
    from rigbot import media
    from rigbot.calibration.camera_info import save_camera_info
    from rigbot.calibration.deployment import relative_to_file, update_deployment
    from rigbot.calibration.intrinsics import calibrate_intrinsics

    board = _board(args)
    files = _image_files(args.images)
    print(f"calibrating from {len(files)} image(s) of the {board.describe()}")
    result = calibrate_intrinsics(((str(f), media.read_image(f)) for f in files), board, camera_name=args.camera_name,
                                  max_rms_px=args.max_rms, fix_k3=not args.k3, rational_model=args.rational,
                                  min_views=args.min_views)
    print(result.report())
    save_camera_info(result.camera, args.out, comment=(
        f"rigbot calibrate intrinsics: {len(result.per_image_px)} views of the {board.describe()}, reprojection "
        f"error {result.rms_px:.3f} px RMS"))
    print(f"camera_info written to {args.out}")
    if args.deployment:
        update_deployment(args.deployment, camera_info=relative_to_file(args.out, args.deployment))
        print(f"{args.deployment}: camera_info set")
    return 0


def cmd_handeye(args) -> int:
    from rigbot import media
    from rigbot.calibration.camera_info import load_camera_info
    from rigbot.calibration.deployment import CameraPose, load_deployment, update_deployment
    from rigbot.calibration.hand_eye import calibrate_eye_to_hand
    from rigbot.calibration.pose_files import read_hand_poses
    from rigbot.config import ConfigError, dump_yaml
    from rigbot.files import atomic_write_text

    board = _board(args)
    if args.camera_info:
        camera = load_camera_info(args.camera_info)
    elif args.deployment and Path(args.deployment).exists():
        camera = load_deployment(args.deployment).load_camera_info()
    else:
        raise ConfigError("give --camera-info FILE, or a --deployment file that names one (rigbot calibrate intrinsics)")
    pairs = read_hand_poses(args.poses)
    samples = ((str(image), T, media.read_image(image)) for image, T in pairs)
    result = calibrate_eye_to_hand(samples, camera, board, min_views=args.min_views,
                                   max_translation_mm=args.max_residual_mm, max_rotation_deg=args.max_residual_deg)
    print(result.report())
    pose = CameraPose.from_matrix(result.T_base_cam)
    if args.out:
        report = {"camera_pose": {"position": list(pose.position), "orientation": list(pose.orientation)},
                  "board_on_hand": CameraPose.from_matrix(result.T_hand_board).__dict__,
                  "solver": result.solver,
                  "residuals_rms": {"translation_mm": result.rms_translation_mm,
                                    "rotation_deg": result.rms_rotation_deg,
                                    "reprojection_px": result.rms_reprojection_px},
                  "residuals": {n: r.__dict__ for n, r in result.residuals.items()},
                  "skipped": result.skipped}
        atomic_write_text(args.out, "# rigbot calibrate handeye: camera optical frame in the robot base frame "
                                    "(metres; quaternion x, y, z, w)\n" + dump_yaml(
                                        _plain(report), sort_keys=False, default_flow_style=None))
        print(f"result written to {args.out}")
    if args.deployment:
        update_deployment(args.deployment, camera_pose=pose)
        print(f"{args.deployment}: camera_pose set")
    return 0


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def cmd_workspace(args) -> int:
    from rigbot.calibration.deployment import load_deployment, update_deployment
    from rigbot.calibration.pose_files import read_positions
    from rigbot.calibration.region_of_interest import workspace_roi
    from rigbot.calibration.workspace import workspace_from_positions

    changes = {}
    if args.poses:
        positions = read_positions(args.poses)
        box = workspace_from_positions(positions, args.margin)
        changes["workspace"] = box
        print(f"workspace from {len(positions)} recorded positions, {args.margin * 1000:g} mm inside them: "
              f"low {np.round(box.low, 4).tolist()}, high {np.round(box.high, 4).tolist()} m")
    for key in ("max_linear_speed", "max_angular_speed"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.roi == "auto":
        current = load_deployment(args.deployment) if Path(args.deployment).exists() else None
        if current is None:
            raise ValueError(f"--roi auto needs {args.deployment} with camera_info and camera_pose (run intrinsics "
                             "and handeye first)")
        box = changes.get("workspace", current.workspace)
        roi, in_view = workspace_roi(current.load_camera_info(), current.T_base_cam(), box)
        changes["roi"] = roi
        print(f"region of interest around the workspace: x {roi[0]}, y {roi[1]}, {roi[2]} x {roi[3]} px"
              + ("" if in_view else "  WARNING: part of the workspace is outside the camera image"))
    elif args.roi:
        try:
            changes["roi"] = tuple(int(v) for v in args.roi.split(","))
        except ValueError:
            raise ValueError(f"--roi: expected auto or x,y,width,height in pixels, got {args.roi!r}") from None
    if not changes:
        raise ValueError("nothing to record: give --poses, --roi, --max-linear-speed or --max-angular-speed")
    update_deployment(args.deployment, **changes)
    print(f"{args.deployment}: {', '.join(changes)} set")
    return 0


def cmd_align(args) -> int:
    from rigbot import media
    from rigbot.calibration.deployment import load_deployment
    from rigbot.calibration.twin_alignment import alignment_panel, write_aligned_robot
    from rigbot.perception.preprocessing import preprocess

    deployment = load_deployment(args.deployment)
    robot_yaml = write_aligned_robot(deployment, args.out)
    print(f"aligned twin written: {robot_yaml} (use it with --robot, e.g. 'rigbot show reach --robot {robot_yaml}')")
    if not (args.frame or args.camera):
        return 0
    from rigbot.calibration.deployment import preprocess_config
    from rigbot.sim.cartesian_control import CartesianVelocityController
    from rigbot.sim.rendering import CameraRenderer, mujoco
    from rigbot.sim.robot import load_robot, load_spec, make_fast_to_render

    camera_info = deployment.load_camera_info()
    if args.frame:
        frame = media.read_image(args.frame)
    else:
        from rigbot.perception.camera import open_camera

        with open_camera(args.camera) as camera:
            frame = camera.read(timeout=5.0).rgb
    real = preprocess(camera_info.undistort(frame), preprocess_config(deployment, args.size))
    hand = np.array(args.hand) if args.hand else None

    def render(robot_path):
        robot = load_robot(robot_path)
        spec = load_spec(robot)
        make_fast_to_render(spec, args.size)
        model = spec.compile()
        data = mujoco.MjData(model)
        CartesianVelocityController(model, robot).place(data, np.array(robot.home) if hand is None else hand)
        mujoco.mj_forward(model, data)
        renderer = CameraRenderer(model, args.size, robot.camera)
        try:
            return renderer.render(data), np.array(robot.home) if hand is None else hand
        finally:
            renderer.close()

    twin, hand = render(robot_yaml)
    before, _ = render(deployment.path_of(deployment.robot) if deployment.robot else None)
    png = media.write_png(Path(args.out) / "alignment.png", alignment_panel(real, twin, before, height=max(args.size, 256)))
    print(f"side by side and overlay: {png} (the twin's hand is at {hand.tolist()}; put the real hand there too)")
    return 0


def register(subparsers) -> None:
    """Add ``rigbot calibrate ...`` to the rigbot command line."""
    p = subparsers.add_parser(
        "calibrate", help="calibrate a camera and robot: intrinsics, hand-eye, workspace, twin alignment",
        description="Calibrate a real camera and robot, in order: print a board, capture images, intrinsics, "
                    "hand-eye (camera pose in the robot base frame), workspace box and image region, and align the "
                    "twin's camera. Results go to a deployment YAML that the safety gate, the preprocessing and the "
                    "twin read.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="calibrate_command", metavar="STEP", required=True)

    s = sub.add_parser("board", help="write a board image to print",
                       description="Write a chessboard or ChArUco board as a PNG to print at 100 %% scale.")
    _add_board_args(s)
    s.add_argument("--out", default="board.png", help="PNG file (default board.png)")
    s.add_argument("--dpi", type=positive_int, default=300, help="printer resolution, dots per inch (default 300)")
    s.set_defaults(func=cmd_board)

    s = sub.add_parser("capture", help="save camera frames that show the board",
                       description="Read a camera and save the frames where the whole board is seen sharply and has "
                                   "moved since the last one saved, as board_NNNN.png.")
    s.add_argument("--camera", required=True, metavar="SPEC",
                   help="realsense, realsense:SERIAL, opencv:0, opencv:VIDEO, opencv:FOLDER (see 'rigbot cameras list')")
    s.add_argument("--out", required=True, metavar="DIR", help="folder for the images (appended to)")
    s.add_argument("--count", type=positive_int, default=20, help="images to save (default 20)")
    s.add_argument("--min-move", type=positive_float, default=30.0, metavar="PX",
                   help="mean corner movement since the last saved image, pixels (default 30)")
    s.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after reading this many frames")
    _add_board_args(s)
    s.set_defaults(func=cmd_capture)

    s = sub.add_parser("intrinsics", help="camera intrinsics from board images -> camera_info YAML",
                       description="Calibrate focal lengths, principal point and lens distortion from images of a "
                                   "board. Prints the reprojection error per image and overall, and names every "
                                   "image skipped (no board, partial, blurred) with the reason. Writes the ROS "
                                   "camera_info YAML that camera_calibration writes.")
    s.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    _add_board_args(s)
    s.add_argument("--out", default="camera_info.yaml", help="camera_info YAML to write (default camera_info.yaml)")
    s.add_argument("--camera-name", default="camera", help="camera_name in the YAML (default camera)")
    s.add_argument("--deployment", metavar="YAML", help="deployment file to record the camera_info path in")
    s.add_argument("--max-rms", type=positive_float, default=1.0, metavar="PX",
                   help="refuse a fit worse than this (default 1)")
    s.add_argument("--min-views", type=positive_int, default=6, help="usable images needed (default 6)")
    s.add_argument("--k3", action="store_true", help="also fit the third radial coefficient (fixed at 0 by default)")
    s.add_argument("--rational", action="store_true", help="8-coefficient rational model, for wide-angle lenses")
    s.set_defaults(func=cmd_intrinsics)

    s = sub.add_parser("handeye", help="camera pose in the robot base frame, from a board on the hand",
                       description="Eye-to-hand calibration: a board fixed to the hand, seen by the fixed camera in "
                                   "several hand poses. --poses lists each image with the hand's pose in the base "
                                   "frame: a CSV with columns image,x,y,z,qx,qy,qz,qw (metres; quaternion x, y, z, "
                                   "w) or a YAML list of {image, position, orientation}. Prints residuals per view.")
    s.add_argument("--poses", required=True, metavar="FILE", help="hand poses with their images (CSV or YAML)")
    _add_board_args(s)
    s.add_argument("--camera-info", metavar="YAML", help="intrinsics (default: the one the deployment names)")
    s.add_argument("--deployment", metavar="YAML", help="deployment file to record the camera pose in")
    s.add_argument("--out", metavar="YAML", help="also write the result with its residuals here")
    s.add_argument("--min-views", type=positive_int, default=5, help="usable views needed (default 5)")
    s.add_argument("--max-residual-mm", type=positive_float, default=10.0,
                   help="refuse if a view is off by more (default 10)")
    s.add_argument("--max-residual-deg", type=positive_float, default=1.0,
                   help="refuse if a view is off by more (default 1)")
    s.set_defaults(func=cmd_handeye)

    s = sub.add_parser("workspace", help="workspace box, speed limits and image region into the deployment file",
                       description="Record the box the hand is kept in from recorded hand positions (jog the hand to "
                                   "the edges of where it may go and record its pose at each; CSV with x,y,z "
                                   "columns, YAML list or .npz 'positions'), the speed limits, and the image region "
                                   "of interest (auto: the square around the workspace as the camera sees it).")
    s.add_argument("--deployment", required=True, metavar="YAML", help="deployment file to update (created if missing)")
    s.add_argument("--poses", metavar="FILE", help="recorded hand positions, metres in the base frame")
    s.add_argument("--margin", type=nonnegative_float, default=0.01, metavar="M",
                   help="keep the box this far inside the recorded positions, metres (default 0.01)")
    s.add_argument("--max-linear-speed", type=positive_float, metavar="M/S", help="hand speed limit per axis")
    s.add_argument("--max-angular-speed", type=positive_float, metavar="RAD/S", help="hand turn rate limit per axis")
    s.add_argument("--roi", metavar="auto|X,Y,W,H", help="image region of interest, raw pixels; auto: around the "
                                                         "workspace (needs intrinsics and hand-eye)")
    s.set_defaults(func=cmd_workspace)

    s = sub.add_parser("align", help="give the twin the calibrated camera; overlay PNG",
                       description="Write the twin (MJCF + robot YAML) with the calibrated camera intrinsics (of the "
                                   "region of interest), camera pose, workspace and speed. With --frame or --camera, "
                                   "also write alignment.png: the undistorted, cropped camera frame beside the twin's "
                                   "render with the hand at --hand, and the twin's edges over the frame.")
    s.add_argument("--deployment", required=True, metavar="YAML")
    s.add_argument("--out", default="twin_aligned", metavar="DIR", help="folder for the twin files (default twin_aligned)")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--frame", metavar="IMAGE", help="a camera frame to compare with")
    src.add_argument("--camera", metavar="SPEC", help="read one frame from this camera to compare with")
    s.add_argument("--hand", type=_triple, metavar="X,Y,Z", help="where the real hand is (default: the twin's home)")
    s.add_argument("--size", type=positive_int, default=256,
                   help="side of the compared images, 16 to 256 pixels (default 256)")
    s.set_defaults(func=cmd_align)
