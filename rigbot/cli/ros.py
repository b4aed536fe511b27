"""The ROS 2 verbs of the ``rigbot`` command: ``rigbot sim``, ``rigbot node NAME``, ``rigbot goal ...``.

rclpy is imported only when one of these runs, so the rest of the command line works without ROS.
"""
from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from rigbot_ros import NODES

GOAL_NODE = "/goal"


def register(sub) -> None:
    p = sub.add_parser("sim", help="the whole node graph on the twin in one process: reach a goal image",
                       description="Run the twin, encoder, policy, goal and safety gate nodes (the same classes "
                                   "'ros2 launch' starts) on one rclpy executor, set a goal image, and drive the "
                                   "twin's arm to it. Without --checkpoint it uses checkpoints/TASK, training one "
                                   "there first if there is none (many minutes).")
    p.add_argument("--task", choices=["reach", "push"], default="reach", help="twin task (default reach)")
    p.add_argument("--checkpoint", metavar="DIR", help="trained policy checkpoint (default checkpoints/TASK)")
    p.add_argument("--seed", type=int, default=0, help="chooses the goal (default 0)")
    p.add_argument("--goal", metavar="IMAGE", help="goal image file (default: the twin renders a random goal)")
    p.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds (default 30)")
    p.add_argument("--fast", action="store_true", help="lockstep, as fast as possible, instead of real time")
    p.add_argument("--out", metavar="DIR", default="rigbot_out", help="where to write sim_result.png")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("node", help="run one ROS 2 node (camera, encoder, policy, goal, safety_gate, twin, "
                                    "recorder, learner, ...)",
                       description="Run one of rigbot's ROS 2 nodes, as 'ros2 run rigbot_ros NAME_node' does after "
                                   "colcon build. Arguments after the name go to ROS, e.g. "
                                   "rigbot node safety_gate --ros-args -p limits_file:=limits.yaml "
                                   "-r /servo_node/delta_twist_cmds:=/my_arm/twist")
    p.add_argument("name", choices=sorted(NODES), help="which node")
    p.add_argument("ros_args", nargs=argparse.REMAINDER, help="--ros-args -p NAME:=VALUE -r FROM:=TO ...")
    p.set_defaults(func=cmd_node)

    p = sub.add_parser("goal", help="set, save and list goal images of a running goal node",
                       description="Talk to a running goal node (rigbot node goal, or the launch files).")
    goal = p.add_subparsers(dest="goal_command", metavar="ACTION", required=True)
    s = goal.add_parser("set", help="make an image file (or a saved goal's name) the goal",
                        description="Send an image to the goal node and wait until it accepts or refuses it "
                                    "(refusals say why, e.g. an image that does not look like the workspace).")
    s.add_argument("image", help="PNG/JPEG file, or the name of a goal saved in --library")
    s.add_argument("--library", default="goals", metavar="DIR", help="saved goals folder (default goals)")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the goal node (default 10)")
    s.set_defaults(func=cmd_goal_set)
    s = goal.add_parser("from-camera", help="make the current camera frame the goal",
                        description=f"Call the goal node's {GOAL_NODE}/set_from_camera service (std_srvs/Trigger).")
    s.add_argument("--timeout", type=float, default=10.0)
    s.set_defaults(func=cmd_goal_from_camera)
    s = goal.add_parser("save", help="save the goal node's current goal image under a name",
                        description="Take the current (latched) goal image and save it as NAME.png in --library, "
                                    "to use later with 'rigbot goal set NAME' or the goal node's goal parameter.")
    s.add_argument("name")
    s.add_argument("--library", default="goals", metavar="DIR")
    s.add_argument("--timeout", type=float, default=10.0)
    s.set_defaults(func=cmd_goal_save)
    s = goal.add_parser("list", help="list saved goals", description="List the goals saved in --library.")
    s.add_argument("--library", default="goals", metavar="DIR")
    s.set_defaults(func=cmd_goal_list)


# ---- rigbot node -------------------------------------------------------------------------------------------------
def cmd_node(args) -> int:
    module = importlib.import_module(NODES[args.name])
    return module.main([f"rigbot node {args.name}", *args.ros_args])


# ---- rigbot goal -------------------------------------------------------------------------------------------------
class _Session:
    """A short-lived ROS node for one command."""

    def __enter__(self):
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("rigbot_cli")
        return self

    def spin_until(self, done, timeout: float) -> bool:
        import rclpy

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if done():
                return True
        return False

    def __exit__(self, *exc):
        import rclpy

        self.node.destroy_node()
        rclpy.try_shutdown()


def cmd_goal_set(args) -> int:
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import Image

    from rigbot import media
    from rigbot.perception.goal_images import GoalLibrary
    from rigbot_ros import conversions as conv
    from rigbot_ros import topics

    path = Path(args.image)
    image = media.read_image(path) if path.is_file() or path.suffix else GoalLibrary(args.library).load(args.image)
    with _Session() as s:
        stamp = s.node.get_clock().now().to_msg()
        key = conv.stamp_key(stamp)
        answer: list[DiagnosticStatus] = []

        def on_status(msg: DiagnosticStatus) -> None:
            values = {kv.key: kv.value for kv in msg.values}
            if values.get("goal_stamp") == key:
                answer.append(msg)

        pub = s.node.create_publisher(Image, topics.GOAL_SET, topics.EVENTS)
        s.node.create_subscription(DiagnosticStatus, topics.GOAL_STATUS, on_status, topics.EVENTS)
        msg = conv.rgb_to_image(image, stamp, "camera_color_optical_frame")
        if not s.spin_until(lambda: pub.get_subscription_count() > 0, args.timeout):
            raise RuntimeError(f"no goal node is listening on {topics.GOAL_SET} (start one: rigbot node goal, or "
                               "the launch files); check ROS_DOMAIN_ID")
        end = time.monotonic() + args.timeout
        while not answer and time.monotonic() < end:  # resend until answered: discovery may still be settling
            pub.publish(msg)
            s.spin_until(lambda: bool(answer), 1.0)
        if not answer:
            raise RuntimeError(f"the goal node did not answer within {args.timeout:g} s")
    values = {kv.key: kv.value for kv in answer[0].values}
    if values.get("error"):
        raise ValueError(values["error"])
    print(f"goal set from {args.image} ({image.shape[1]} x {image.shape[0]}); the goal node says: "
          f"{answer[0].message}")
    return 0


def cmd_goal_from_camera(args) -> int:
    from std_srvs.srv import Trigger

    with _Session() as s:
        client = s.node.create_client(Trigger, f"{GOAL_NODE}/set_from_camera")
        if not client.wait_for_service(timeout_sec=args.timeout):
            raise RuntimeError(f"no {GOAL_NODE}/set_from_camera service: is the goal node running?")
        future = client.call_async(Trigger.Request())
        s.spin_until(future.done, args.timeout)
        if not future.done():
            raise RuntimeError("the goal node did not answer")
        result = future.result()
    if not result.success:
        raise ValueError(result.message)
    print(result.message)
    return 0


def cmd_goal_save(args) -> int:
    from sensor_msgs.msg import Image

    from rigbot.perception.goal_images import GoalLibrary
    from rigbot_ros import conversions as conv
    from rigbot_ros import topics

    library = GoalLibrary(args.library)
    library.path(args.name)  # a name that cannot be a goal's is refused before anything else happens
    got: list[Image] = []
    with _Session() as s:
        s.node.create_subscription(Image, topics.GOAL_IMAGE, got.append, topics.LATCHED)
        if not s.spin_until(lambda: bool(got), args.timeout):
            raise RuntimeError(f"no goal image on {topics.GOAL_IMAGE} within {args.timeout:g} s: is a goal set?")
    path = library.save(args.name, conv.image_to_rgb(got[0]))
    print(f"saved the current goal as {args.name!r}: {path}")
    return 0


def cmd_goal_list(args) -> int:
    from rigbot.perception.goal_images import GoalLibrary

    library = GoalLibrary(args.library)
    names = library.names()
    print(f"{len(names)} saved goal(s) in {library.folder}" + "".join(f"\n  {n}" for n in names))
    return 0


# ---- rigbot sim --------------------------------------------------------------------------------------------------
def cmd_sim(args) -> int:
    from rigbot_ros.embedded import run_embedded

    result = run_embedded(task=args.task, checkpoint=args.checkpoint, seed=args.seed, goal_file=args.goal,
                          timeout=args.timeout, real_time=not args.fast, out=args.out)
    return 0 if result["reached"] else 1
