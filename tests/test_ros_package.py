"""The ROS 2 package as a robot sees it: colcon builds it, and the launch files, parameter files and RViz config
name only executables, files, parameters and topics that exist, checked by reading them. (test_launch.py runs the
launch files under ROS 2's real launch system.)"""
import ast
import dataclasses
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "robot_ws" / "src" / "rigbot_ros"
LAUNCH = ROOT / "launch"
LAUNCH_FILES = sorted(LAUNCH.glob("*.launch.py"))
NODE_MODULES = {  # executable -> node source
    "camera_node": "camera_node.py", "encoder_node": "encoder_node.py", "policy_node": "policy_node.py",
    "goal_node": "goal_node.py", "safety_gate_node": "safety_gate_node.py", "twin_node": "twin_node.py",
    "learner_node": "learner_node.py", "episode_manager_node": "episode_manager_node.py"}


def known_topics() -> set[str]:
    rclpy = pytest.importorskip("rclpy")  # noqa: F841
    from rigbot_ros import topics
    return {v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}


def console_scripts() -> dict[str, str]:
    tree = ast.parse((PKG / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "console_scripts"
                                              for k in node.keys):
            entries = ast.literal_eval(node.values[0])
            return dict(e.replace(" ", "").split("=") for e in entries)
    raise AssertionError("setup.py has no console_scripts")


def declared_parameters(source: str) -> set[str]:
    """Names passed to declare(self, NAME, ...) in a node's source, and those declare_config / declare_fields
    (self, CLASS, skip=(...)) declare: one per field of the config dataclass CLASS, found where the
    source imports it."""
    tree = ast.parse((PKG / "rigbot_ros" / source).read_text())
    imported = {a.asname or a.name: node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for a in node.names}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "declare":
            names.add(node.args[1].value)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("declare_config", "declare_fields"):
            kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            cls = getattr(importlib.import_module(imported[node.args[1].id]), node.args[1].id)
            names |= {f.name for f in dataclasses.fields(cls) if f.init and f.name not in kw.get("skip", ())}
    return names


def test_package_xml_declares_what_the_nodes_import():
    root = ET.parse(PKG / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "rigbot_ros"
    assert root.find("export/build_type").text == "ament_python"
    depends = {e.text for e in root.findall("exec_depend")}
    imported = set()
    for path in (PKG / "rigbot_ros").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
    ros_packages = {m for m in imported if m.endswith(("_msgs", "_srvs", "_interfaces")) or m == "rclpy"}
    assert ros_packages >= {"rclpy", "sensor_msgs", "geometry_msgs", "std_srvs", "std_msgs"}
    assert ros_packages <= depends, f"imported but not in package.xml: {sorted(ros_packages - depends)}"
    assert {"launch", "launch_ros", "rviz2"} <= depends  # the launch files use them
    cfg = (PKG / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/rigbot_ros" in cfg and (PKG / "resource" / "rigbot_ros").is_file()


def colcon() -> str | None:
    """colcon beside this Python (a venv that is not activated), else on PATH."""
    here = Path(sys.executable).parent / "colcon"
    return str(here) if here.is_file() else shutil.which("colcon")


@pytest.mark.skipif(colcon() is None, reason="colcon is not installed (pip install colcon-common-extensions)")
def test_colcon_builds_the_package_and_its_executables_run(tmp_path):
    ws = ROOT / "robot_ws"
    result = subprocess.run(
        [colcon(), "--log-base", str(tmp_path / "log"), "build", "--build-base", str(tmp_path / "build"),
         "--install-base", str(tmp_path / "install")], cwd=ws, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / "install" / "rigbot_ros"
    lib = install / "lib" / "rigbot_ros"
    assert sorted(p.name for p in lib.iterdir()) == sorted(console_scripts())
    share = install / "share" / "rigbot_ros"
    assert (share / "package.xml").is_file()
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "rigbot_ros").is_file()
    for f in [*LAUNCH_FILES, LAUNCH / "rigbot.rviz", *LAUNCH.glob("params/*.yaml")]:
        assert (share / "launch" / f.relative_to(LAUNCH)).is_file(), f"{f.name} not installed"
    # what `ros2 run rigbot_ros safety_gate_node` starts: it comes up, and stops cleanly on SIGTERM
    site = next((install / "lib").glob("python3*/site-packages"))
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen([sys.executable, str(lib / "safety_gate_node"), "--ros-args", "-r",
                             "__node:=colcon_gate"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        end, out = time.monotonic() + 30, ""
        while time.monotonic() < end and "limits from" not in out:
            line = proc.stdout.readline()
            if not line:
                break
            out += line
        assert "limits from" in out, out
    finally:
        proc.send_signal(signal.SIGTERM)
        out += proc.communicate(timeout=10)[0]
    assert proc.returncode == 0 and "sent zero velocity" in out, out


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_what_exists(launch_file):
    tree = ast.parse(launch_file.read_text())
    scripts = console_scripts()
    topics = known_topics()
    declared, used, executables, node_names, files = set(), set(), [], [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fname = getattr(node.func, "id", getattr(node.func, "attr", ""))
            kw = {k.arg: k.value for k in node.keywords}
            if fname in ("Node", "LifecycleNode"):
                executables.append(kw["executable"].value)
                node_names.append(kw["name"].value)
                if kw["package"].value == "rigbot_ros":
                    assert kw["executable"].value in scripts, f"no executable {kw['executable'].value}"
            if fname == "join" and node.args and getattr(node.args[0], "id", "") == "HERE":
                files.append(LAUNCH.joinpath(*(a.value for a in node.args[1:])))
            if fname in ("LaunchConfiguration", "arg") and node.args and isinstance(node.args[0], ast.Constant):
                used.add(node.args[0].value)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            for name, default, doc in _arguments(node.value):
                declared.add(name)
                assert len(doc) > 15, f"argument {name} needs a description"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/"):
            assert node.value in topics, f"{launch_file.name} names topic {node.value}, which no node uses"
    assert used <= declared, f"undeclared launch arguments: {used - declared}"
    assert {"checkpoint", "rviz", "params_file", "limits"} <= declared
    if launch_file.name == "robot.launch.py":
        assert {"camera_source", "camera_serial", "camera_topic", "command_topic"} <= declared
    assert "rviz2" in executables and "policy_node" in executables and "safety_gate_node" in executables
    assert files and all(f.is_file() for f in files), [str(f) for f in files if not f.is_file()]
    # every parameter in the node parameter files is one the node declares
    for params_file in (f for f in files if f.suffix == ".yaml"):
        for name, section in yaml.safe_load(params_file.read_text()).items():
            assert name in node_names, f"{params_file.name}: no node named {name} in {launch_file.name}"
            executable = executables[node_names.index(name)]
            unknown = set(section["ros__parameters"]) - declared_parameters(NODE_MODULES[executable])
            assert not unknown, f"{params_file.name}: {name} has no parameters {unknown}"


def _arguments(node: ast.List):
    """(name, default, description) of each ARGUMENTS entry; a default that is a name (PARAMS) stays a name."""
    for elt in node.elts:
        name, default, doc = elt.elts
        yield name.value, default.value if isinstance(default, ast.Constant) else default.id, doc.value


def test_rviz_config_shows_rigbot_topics():
    cfg = yaml.safe_load((LAUNCH / "rigbot.rviz").read_text())
    displays = cfg["Visualization Manager"]["Displays"]
    shown = {d["Topic"]["Value"] for d in displays if "Topic" in d}
    topics = known_topics()
    assert shown <= topics, shown - topics
    from rigbot_ros import topics as t
    assert {t.IMAGE, t.GOAL_IMAGE, t.GOAL_RECONSTRUCTION, t.GOAL_MARKER} <= shown
    tools = {tool["Class"]: tool.get("Topic", {}).get("Value") for tool in cfg["Visualization Manager"]["Tools"]}
    assert tools["rviz_default_plugins/PublishPoint"] == t.CLICKED_POINT
    assert tools["rviz_default_plugins/SetGoal"] == t.GOAL_POSE
