"""The launch files under ROS 2's real launch system, as ``ros2 launch rigbot_ros FILE`` runs them on a robot.

colcon builds robot_ws into a temporary install; a small driver process runs the installed launch file with
``launch.LaunchService`` (AMENT_PREFIX_PATH naming that install, so ``package=``/``executable=`` resolve as on a
robot); the test watches the ROS graph with rclpy and stops the driver by process id (SIGINT, then SIGKILL after
a grace period), then checks by pid that no node outlived it.

launch_ros is the system's where one is importable (ROS 2 sourced); else ROS 2's launch sources in
../shared/ros2_launch are pip-installed into a temporary folder (CI). Only where neither exists are these skipped.
"""
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from geometry_msgs.msg import PoseStamped, TwistStamped  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402

from ros_helpers import Probe, goal_png, stop_process, twist_linear  # noqa: E402
from rigbot_ros import conversions as conv  # noqa: E402
from rigbot_ros import topics  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_LAUNCH = ROOT.parent / "shared" / "ros2_launch"
LAUNCH_PACKAGES = ("launch", "launch_xml", "launch_yaml", "launch_ros")
LAUNCH_DEPENDENCIES = ("osrf_pycommon", "lark", "importlib_metadata", "yaml", "ament_index_python")
COMMAND_TOPIC = "/launch_test/arm_command"  # sim.launch.py's command_topic, remapped: the argument must reach nodes
START_TIMEOUT = 150.0  # nodes importing torch and MuJoCo side by side on 2 loaded cores
STOP_GRACE = 45.0  # longer than launch's own escalation: SIGTERM after SIGTERM_TIMEOUT, SIGKILL 5 s later

# What `ros2 launch --noninteractive FILE NAME:=VALUE...` does: include the file with the arguments, run until
# SIGINT. Non-interactive: launch passes the SIGINT on to each node itself (in a terminal, Ctrl-C reaches the whole
# process group).
DRIVER = '''\
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

path, *pairs = sys.argv[1:]
arguments = [tuple(pair.split(":=", 1)) for pair in pairs]
service = LaunchService(argv=pairs, noninteractive=True)
service.include_launch_description(LaunchDescription([
    IncludeLaunchDescription(PythonLaunchDescriptionSource(path), launch_arguments=arguments)]))
sys.exit(service.run())
'''
# How long launch waits for a node to finish after SIGINT before it escalates to SIGTERM (the launch argument
# sigterm_timeout, default 5 s): a node's own shutdown takes ~0.1 s, but Python's exit with torch loaded takes
# seconds when 6 processes stop at once on 2 busy cores.
SIGTERM_TIMEOUT = 20

# launch_ros imports composition_interfaces (not on the package registries) for composable nodes, which these
# launch files do not use: a stand-in with the names its annotations touch.
COMPOSITION_STAND_IN = '''\
"""Stand-in for ROS 2's composition_interfaces (tests only: no composable nodes are launched)."""
'''
COMPOSITION_SRV_STAND_IN = '''\
class LoadNode:
    class Request:
        pass

    class Response:
        pass
'''


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def install_shared_launch(target: Path) -> Path:
    """pip-install the shared launch sources into ``target`` (from a copy: shared/ is read-only, pip builds in the
    source tree); offline, without touching the venv."""
    missing = [m for m in LAUNCH_DEPENDENCIES if not _importable(m)]
    if missing:
        pytest.fail(f"ROS 2's launch sources need {missing}: pip install -e '.[test]' (or osrf-pycommon lark "
                    f"importlib-metadata)")
    sources = target.parent / "launch_sources"
    shutil.copytree(SHARED_LAUNCH, sources)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), *(str(sources / p) for p in LAUNCH_PACKAGES)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"installing {SHARED_LAUNCH} failed:\n{result.stdout}{result.stderr}"
    if not _importable("composition_interfaces"):
        stand_in = target / "composition_interfaces"
        stand_in.mkdir(exist_ok=True)
        (stand_in / "__init__.py").write_text(COMPOSITION_STAND_IN)
        (stand_in / "srv.py").write_text(COMPOSITION_SRV_STAND_IN)
    return target


@pytest.fixture(scope="module")
def launch_pythonpath(tmp_path_factory) -> list[str]:
    """Folders the driver needs on its PYTHONPATH for ``launch``/``launch_ros``: none with a system ROS 2."""
    if _importable("launch_ros"):
        return []
    if not (SHARED_LAUNCH / "launch_ros" / "setup.py").is_file():
        pytest.skip(f"no launch_ros: not importable (source ROS 2's setup.bash) and no ROS 2 launch sources at "
                    f"{SHARED_LAUNCH}")
    return [str(install_shared_launch(tmp_path_factory.mktemp("ros2_launch") / "site"))]


def colcon() -> str | None:
    """colcon beside this Python (a venv that is not activated), else on PATH."""
    here = Path(sys.executable).parent / "colcon"
    return str(here) if here.is_file() else shutil.which("colcon")


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory) -> Path:
    """robot_ws built by colcon into a temporary build and install folder (the source tree stays clean)."""
    if colcon() is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions)")
    out = tmp_path_factory.mktemp("colcon")
    result = subprocess.run(
        [colcon(), "--log-base", str(out / "log"), "build", "--build-base", str(out / "build"),
         "--install-base", str(out / "install")], cwd=ROOT / "robot_ws", capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "install"


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


def start_time(pid: int) -> int | None:
    """The kernel's start time of a running process (so a reused pid is not mistaken for it); None when gone or
    a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return None if fields[0] in "ZX" else int(fields[19])


class LaunchRun:
    """The driver running one installed launch file in a process (and session) of its own, output in a log."""

    def __init__(self, install: Path, pythonpath: list[str], launch_file: str, arguments: dict, work: Path):
        share = install / "rigbot_ros" / "share" / "rigbot_ros" / "launch"
        site = next((install / "rigbot_ros" / "lib").glob("python3*/site-packages"))
        driver = work / "launch_driver.py"
        driver.write_text(DRIVER)
        paths = [*pythonpath, str(site), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0",
                   ROS_LOG_DIR=str(work / "ros_log"),  # not ~/.ros/log
                   PYTHONPATH=os.pathsep.join(p for p in paths if p),
                   AMENT_PREFIX_PATH=os.pathsep.join(
                       p for p in (str(install / "rigbot_ros"), os.environ.get("AMENT_PREFIX_PATH", "")) if p))
        self.log_path = work / f"{launch_file}.log"
        self._log = open(self.log_path, "w")
        args = [f"{k}:={v}" for k, v in {**arguments, "sigterm_timeout": SIGTERM_TIMEOUT}.items()]
        # cwd: a scratch folder, so relative defaults (goals/, checkpoints/) never touch the repository
        self.proc = subprocess.Popen([sys.executable, str(driver), str(share / launch_file), *args], cwd=work,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.started: dict[str, tuple[int, int | None]] = {}  # launch's process name -> (pid, start time)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def node_pids(self) -> dict[str, int]:
        """The processes launch reports it started ("[INFO] [twin_node-1]: process started with pid [N]")."""
        for name, pid in re.findall(r"\[INFO\] \[(\S+)\]: process started with pid \[(\d+)\]", self.log()):
            self.started.setdefault(name, (int(pid), start_time(int(pid))))
        return {name: pid for name, (pid, _) in self.started.items()}

    def running(self) -> set[str]:
        """Names of the started processes still running (the same process: pid and start time)."""
        self.node_pids()
        return {name for name, (pid, t0) in self.started.items() if t0 is not None and start_time(pid) == t0}

    def exits(self) -> list[str]:
        return re.findall(r"process has (?:died|finished cleanly).*", self.log())

    def unclean_stops(self) -> list[str]:
        """After a stop: every node that did not finish cleanly on launch's SIGINT (it died, or launch had to
        escalate to SIGTERM or SIGKILL)."""
        log = self.log()
        clean = {int(pid) for pid in re.findall(r"process has finished cleanly \[pid (\d+)\]", log)}
        escalated = re.findall(r"process\[(\S+)\] failed to terminate", log)
        return sorted({name for name, pid in self.node_pids().items() if pid not in clean} | set(escalated))

    def stop(self) -> list[str]:
        """SIGINT (what Ctrl-C sends ``ros2 launch``), SIGKILL after the grace period; then SIGKILL any node still
        running so none outlives the test. Returns the nodes that had to be killed that way."""
        self.node_pids()
        stop_process(self.proc, signal.SIGINT, STOP_GRACE)
        self._log.close()
        survivors = sorted(self.running())
        for name in survivors:
            os.kill(self.started[name][0], signal.SIGKILL)
        return survivors


def wait_for(run: LaunchRun, probe: Probe, cond, timeout: float, what: str) -> None:
    """Spin the probe until ``cond()``; fail early, with the launch log, if the launch service exits."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if run.proc.poll() is not None:
            raise AssertionError(f"the launch service exited ({run.proc.returncode}) before {what}:\n{run.log()}")
        probe.spin(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{run.log()}")


def node_names(probe: Probe) -> set[str]:
    return {name for name, namespace in probe.node.get_node_names_and_namespaces() if namespace == "/"}


@contextlib.contextmanager
def stopped_cleanly(run: LaunchRun, probe: Probe):
    """The body runs with the launch up; then the probe is closed and the launch stopped (``LaunchRun.stop``),
    whatever the body did. When the body passed, every node must have stopped cleanly on launch's SIGINT, none
    outliving it, and the safety gate must have sent zero velocity on its way out."""
    try:
        yield
    finally:
        try:
            probe.close()
        finally:
            killed = run.stop()
    log = run.log()
    assert not killed, f"{killed} outlived the launch service:\n{log}"
    assert not run.unclean_stops(), f"{run.unclean_stops()} did not stop cleanly on SIGINT:\n{log}"
    assert "[safety_gate]: shut down: sent zero velocity" in log, log


def test_sim_launch_drives_the_twin_through_the_gate(ros, launch_pythonpath, colcon_install, plumbing_checkpoint,
                                                     tmp_path):
    goal = goal_png(tmp_path / "goal.png", [0.42, 0.08])
    arguments = {"checkpoint": plumbing_checkpoint, "rviz": "false", "goal": goal, "command_topic": COMMAND_TOPIC}
    probe = Probe("launch_sim_probe")
    commands = probe.listen(TwistStamped, COMMAND_TOPIC, topics.COMMAND)
    poses = probe.listen(PoseStamped, topics.EE_POSE, topics.SENSOR)
    run = LaunchRun(colcon_install, launch_pythonpath, "sim.launch.py", arguments, tmp_path)
    with stopped_cleanly(run, probe):
        wait_for(run, probe, lambda: sum(bool(np.any(twist_linear(m))) for _, m in commands) >= 5, START_TIMEOUT,
                 f"the policy's twists on {COMMAND_TOPIC} (through the safety gate)")
        wait_for(run, probe, lambda: len(poses) > 2 and np.ptp([conv.position(m) for _, m in poses], 0).max()
                 > 1e-3, 30, "the twin's hand moving (it obeys the remapped command topic)")
        assert {"twin", "encoder", "policy", "goal", "safety_gate"} <= node_names(probe)
        moving = next(m for _, m in reversed(commands) if np.any(twist_linear(m)))
        assert moving.header.frame_id == "base_link"
        assert np.all(np.abs(twist_linear(moving)) <= 0.2 + 1e-6)  # the twin arm's speed limit
        assert len(run.running()) == 5 and not run.exits(), run.log()


def test_robot_launch_with_learning_brings_every_node_up_and_keeps_it_up(ros, launch_pythonpath, colcon_install,
                                                                        plumbing_checkpoint, tmp_path):
    from rigbot.policy.weights.weight_store import WeightStore

    store = WeightStore.create(tmp_path / "store", plumbing_checkpoint)
    arguments = {"checkpoint": store.root, "camera_source": "external", "learn": "true"}
    expected = {"encoder", "policy", "goal", "safety_gate", "learner", "episode_manager"}
    probe = Probe("launch_robot_probe")
    run = LaunchRun(colcon_install, launch_pythonpath, "robot.launch.py", arguments, tmp_path)
    with stopped_cleanly(run, probe):
        wait_for(run, probe, lambda: expected <= node_names(probe) and len(run.node_pids()) == len(expected),
                 START_TIMEOUT, f"nodes {sorted(expected)} in the ROS graph")
        assert "camera_node" not in " ".join(run.node_pids()), "camera_source:=external started rigbot's camera"
        wait_for(run, probe, lambda: "learner on store" in run.log() and "episodes:" in run.log(), 60,
                 "the learner and the episode manager ready")
        # up and staying up: every process running and every node in the graph for 10 s
        end = time.monotonic() + 10.0
        while time.monotonic() < end:
            assert run.running() == set(run.started), f"{set(run.started) - run.running()} exited:\n{run.log()}"
            probe.spin(0.5)
        assert expected <= node_names(probe), expected - node_names(probe)
        assert not run.exits(), run.log()
        # the policy starts inactive on a robot, and its checkpoint (the weight store) loads when configured
        assert probe.call(GetState, "/policy/get_state", timeout=30).current_state.label == "unconfigured"
        answer = probe.call(ChangeState, "/policy/change_state",
                            ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE)), timeout=60)
        assert answer.success, run.log()
        assert probe.call(GetState, "/policy/get_state").current_state.label == "inactive"


# Which camera robot.launch.py starts, decided the way launch decides it (the file's own condition on a context).
CAMERA_CONDITION = '''\
import sys
from launch import LaunchContext
from launch.launch_description_sources import PythonLaunchDescriptionSource

path, *sources = sys.argv[1:]
description = PythonLaunchDescriptionSource(path).try_get_launch_description_without_context()
camera = next(e for e in description.entities if getattr(e, "node_executable", None) == "camera_node")
for source in sources:
    context = LaunchContext()
    context.launch_configurations["camera_source"] = source
    print(camera.condition.evaluate(context))
'''


def test_camera_source_is_compared_as_text_whatever_it_holds(launch_pythonpath, tmp_path):
    """A video path with a quote in it once reached Python's eval (PythonExpression) and stopped the launch."""
    script = tmp_path / "camera_condition.py"
    script.write_text(CAMERA_CONDITION)
    sources = {"external": "False", "realsense": "True", "opencv:/data/bob's run.mp4": "True",
               "external' == 'external": "True", 'opencv:"0"': "True"}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [*launch_pythonpath, os.environ.get("PYTHONPATH")]
                                                      if p))
    result = subprocess.run([sys.executable, str(script), str(ROOT / "launch" / "robot.launch.py"), *sources],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == list(sources.values()), dict(zip(sources, result.stdout.split()))


def test_colcon_build_without_the_launch_folder_fails_and_says_how_to_fix_it(tmp_path):
    """The package copied out of the repository (a Docker COPY, a workspace of its own) once built quietly without
    its launch files, so ``ros2 launch rigbot_ros ...`` failed later on the robot."""
    if colcon() is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions)")
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "robot_ws" / "src" / "rigbot_ros", ws / "src" / "rigbot_ros",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))

    def build(launch_dir: str | None):
        env = {k: v for k, v in os.environ.items() if k != "RIGBOT_LAUNCH_DIR"}
        env.update({"RIGBOT_LAUNCH_DIR": launch_dir} if launch_dir else {})
        return subprocess.run([colcon(), "--log-base", "log", "build", "--event-handlers", "console_direct+"],
                              cwd=ws, capture_output=True, text=True, timeout=300, env=env)

    result = build(None)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert f"no launch files (*.launch.py) in {tmp_path / 'launch'}" in out and "RIGBOT_LAUNCH_DIR" in out, out
    assert not (ws / "install" / "rigbot_ros" / "share" / "rigbot_ros" / "launch" / "sim.launch.py").exists()
    # pointed at the repository's launch folder, the copy builds and installs them
    result = build(str(ROOT / "launch"))
    assert result.returncode == 0, result.stdout + result.stderr
    share = ws / "install" / "rigbot_ros" / "share" / "rigbot_ros" / "launch"
    assert {p.name for p in share.glob("*.launch.py")} == {p.name for p in (ROOT / "launch").glob("*.launch.py")}
    assert (share / "params" / "robot.yaml").is_file() and (share / "rigbot.rviz").is_file()
