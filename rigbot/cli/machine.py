"""rigbot doctor, rigbot cameras: what works on this machine, and what is attached to it."""
from __future__ import annotations


def cmd_cameras(args) -> int:
    """List the cameras attached, each with the spec that opens it (see rigbot.perception.camera.open_camera)."""
    from rigbot.perception.opencv_camera import list_video_devices

    try:
        from rigbot.perception.realsense_camera import list_realsense_devices
        realsense = list_realsense_devices()
        print(f"RealSense cameras: {len(realsense) or 'no RealSense camera attached'}")
    except (ImportError, RuntimeError) as e:  # e.g. libusb missing: say so, and still list the others
        realsense = []
        print(f"RealSense cameras: pyrealsense2 cannot be used ({type(e).__name__}: {e})")
    for d in realsense:
        usb_note = "  (USB 2: a USB 3 port gives full resolution and frame rate)" if d.usb_type.startswith("2") else ""
        print(f"  realsense:{d.serial}  {d.name}, firmware {d.firmware}, USB {d.usb_type}{usb_note}")
    video = list_video_devices()
    print(f"OpenCV video devices: {len(video) or 'none attached (no /dev/video*)'}")
    for d in video:
        print(f"  opencv:{d.index}  {d.path}  {d.name}")
    return 0


def cmd_doctor(args) -> int:
    """Report what works here: rendering, ROS 2, cameras, torch."""
    import importlib
    import os

    ok = True

    def check(name: str, fn) -> None:
        nonlocal ok
        try:
            detail = fn()
            print(f"  ok    {name}: {detail}")
        except Exception as e:  # report every failure and go on: this is a diagnosis
            ok = False
            print(f"  FAIL  {name}: {type(e).__name__}: {e}")

    def rendering():
        from rigbot.sim.rendering import select_gl_backend
        backend = select_gl_backend()
        import rigbot.sim as sim
        env = sim.make("reach")
        env.reset(seed=0)
        env.close()
        return f"MuJoCo renders with {backend} (MUJOCO_GL={os.environ.get('MUJOCO_GL')})"

    def version(module):
        return lambda: getattr(importlib.import_module(module), "__version__", "installed")

    def locked_versions():
        from rigbot.lock import compare, lock_path, read_lock

        path = lock_path()
        if path is None:
            return "no requirements.lock beside this install (a package install): versions not compared"
        pins = read_lock(path)
        mismatched, missing = compare(pins)
        if mismatched or missing:
            raise RuntimeError(f"{len(mismatched) + len(missing)} package(s) differ from {path} (run ./install.sh "
                               "to install the locked versions):\n        " + "\n        ".join(
                                   mismatched + [f"{name}: not installed" for name in missing]))
        return f"every package matches {path.name} ({len(pins)} exact versions)"

    print("rigbot doctor")
    check("locked versions", locked_versions)
    check("rendering", rendering)  # before anything imports mujoco: it chooses the OpenGL backend
    check("mujoco", version("mujoco"))
    check("torch", version("torch"))
    check("opencv", version("cv2"))
    check("pyrealsense2", lambda: f"{len(importlib.import_module('pyrealsense2').context().query_devices())} "
                                  "RealSense device(s) attached")
    check("rclpy (ROS 2)", lambda: importlib.import_module("rclpy") and
          f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0 (default)')}, "
          f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', 'SUBNET (default)')}")
    return 0 if ok else 1


def register(sub) -> None:
    p = sub.add_parser("cameras", help="list the cameras attached (RealSense, USB video devices)",
                       description="Cameras rigbot can read: Intel RealSense through pyrealsense2, and video devices "
                                   "through OpenCV. Each line starts with the name that opens it.")
    cameras = p.add_subparsers(dest="cameras_command", metavar="ACTION", required=True)
    cameras.add_parser("list", help="list what is attached",
                       description="List the RealSense cameras (name, serial, firmware, USB type) and the "
                                   "/dev/video* devices attached now, and say so when there are none.")
    p.set_defaults(func=cmd_cameras)

    p = sub.add_parser("doctor", help="check rendering, ROS 2, cameras and torch on this machine",
                       description="Try each part rigbot relies on and say what works and what does not.")
    p.set_defaults(func=cmd_doctor)
