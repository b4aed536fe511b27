"""YAML configuration is validated on load, and every error names the file and the key."""
import dataclasses
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from rigbot import config
from rigbot.config import ConfigError, spec
from rigbot.sim.goal_env import TaskConfig
from rigbot.sim.push import PushConfig


def write(tmp_path, text, name="task.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_valid_file_loads_with_defaults_for_missing_keys(tmp_path):
    cfg = config.load(write(tmp_path, "image_size: 84\nrandomization:\n  enabled: true\n"), TaskConfig)
    assert cfg.image_size == 84
    assert cfg.randomization.enabled is True
    assert cfg.max_episode_steps == TaskConfig().max_episode_steps


@pytest.mark.parametrize("text, key, problem", [
    ("image_sise: 84\n", "image_sise", "unknown key"),
    ("image_size: big\n", "image_size", "expected an integer"),
    ("image_size: 84.5\n", "image_size", "expected an integer"),
    ("image_size: 16\n", "image_size", "out of range [32, 256]"),
    ("success_threshold: .nan\n", "success_threshold", "finite"),
    ("reward_type: shaped\n", "reward_type", "one of 'dense', 'sparse'"),
    ("random_start: yes please\n", "random_start", "true or false"),
    ("randomization:\n  light: 3.0\n", "randomization.light", "out of range"),
    ("randomization:\n  colour: 0.1\n", "randomization.colour", "unknown key"),
    ("randomization: on\n", "randomization", "expected a mapping"),
])
def test_bad_values_name_file_and_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path, TaskConfig)
    message = str(err.value)
    assert str(path) in message and f"{key}:" in message and problem in message, message


def test_list_length_is_checked(tmp_path):
    path = write(tmp_path, "puck_start: [0.3, 0.0, 0.1]\n")
    with pytest.raises(ConfigError, match=r"puck_start: expected a list of 2 items"):
        config.load(path, PushConfig)


def test_cross_field_rule_names_file(tmp_path):
    path = write(tmp_path, "puck_goal_low: [0.5, 0.0]\npuck_goal_high: [0.4, 0.1]\n")
    with pytest.raises(ConfigError, match=rf"{path}: puck_goal_low must be below"):
        config.load(path, PushConfig)


def test_missing_file_and_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "absent.yaml", TaskConfig)
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(write(tmp_path, "image_size: [48\n"), TaskConfig)
    with pytest.raises(ConfigError, match="expected a mapping"):
        config.load(write(tmp_path, "- 1\n- 2\n"), TaskConfig)


def test_required_keys_and_round_trip(tmp_path):
    @dataclass
    class Needs:
        name: str = field(metadata=spec("a name"))
        rate: float = field(default=1.0, metadata=spec("Hz", range=(0.0, 10.0)))

    with pytest.raises(ConfigError, match="name: required key is missing"):
        config.load(write(tmp_path, "rate: 2\n"), Needs)
    path = tmp_path / "round.yaml"
    config.dump(PushConfig(image_size=64), path)
    assert config.load(path, PushConfig) == PushConfig(image_size=64)


# ---- hostile and odd YAML (issue 14) ------------------------------------------------------------------------------
ASSETS = Path(__file__).parent / "assets"


def alias_bomb(key: str) -> str:
    """'Billion laughs' under ``key``: nine levels of nine aliases, 9^9 strings when expanded, in ~450 bytes."""
    levels = ['&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return f"{key}: [{', '.join(levels)}]\n"


_BOMB_CHILD = textwrap.dedent("""
    import resource, sys, time
    from rigbot import config
    from rigbot.config import ConfigError
    from rigbot.sim.goal_env import TaskConfig
    from rigbot.sim.robot import RobotConfig
    from rigbot.calibration.deployment import DeploymentConfig
    # The cap leaves ~1.5 GB above what the imports took: the unfixed reader needs about 2 GB for one bomb.
    vm_kb = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1])
    resource.setrlimit(resource.RLIMIT_AS, (vm_kb * 1024 + 1_500_000_000, resource.RLIM_INFINITY))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path, cls in zip(sys.argv[1:], (TaskConfig, RobotConfig, DeploymentConfig)):
        cpu = time.process_time()
        try:
            config.load(path, cls)
            print("loaded", path)
        except ConfigError as e:
            print(f"ConfigError {time.process_time() - cpu:.3f} s {len(str(e))} chars: {str(e)[:300]!r}")
    print("rss growth MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)
""")


def test_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path):
    """A 450-byte alias bomb under a known key of the task, robot and deployment configs: before, the error
    message's repr expanded it (25-29 s, ~2 GB); now a short ConfigError, in bounded memory."""
    paths = []
    for name, key in (("task.yaml", "image_size"), ("robot.yaml", "mjcf"), ("deployment.yaml", "base_frame")):
        paths.append(write(tmp_path, alias_bomb(key), name))
        assert len(paths[-1].read_bytes()) < 500
    proc = subprocess.run([sys.executable, "-c", _BOMB_CHILD, *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and len(lines) == 4, proc.stdout + proc.stderr[-2000:]
    for path, line in zip(paths, lines):
        assert line.startswith("ConfigError") and str(path) in line, line
        cpu, chars = float(line.split()[1]), int(line.split()[3])
        assert cpu < 5 and chars < 1000, line  # generous: the unfixed reader took 25 s and 387 M items
    assert float(lines[3].split()[-1]) < 300, lines[3]


def test_alias_expansion_is_bounded_wherever_it_sits(tmp_path):
    """Even where no error message would print it (a value of type Any, a consumer that walks it), a document
    whose aliases expand past the node limit is refused when it is read."""
    path = write(tmp_path, alias_bomb("anything"))
    with pytest.raises(ConfigError, match=rf"{path}: .*alias"):
        config.read_yaml(path)
    small = write(tmp_path, "base: &b {x: 1, y: 2}\nother: *b\n", "small.yaml")
    assert config.read_yaml(small) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 2}}


@pytest.mark.parametrize("text, key", [
    ("image_size: 48\nmax_episode_steps: 20\nimage_size: 84\n", "image_size"),
    ("randomization:\n  enabled: true\n  enabled: false\n", "enabled"),
])
def test_duplicate_keys_are_refused_naming_key_and_file(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path, TaskConfig)
    message = str(err.value)
    assert str(path) in message and "duplicate key" in message and repr(key) in message, message


def test_merge_keys_still_override_without_counting_as_duplicates(tmp_path):
    path = write(tmp_path, "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n")
    assert config.read_yaml(path)["derived"] == {"x": 1, "y": 3}


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    """PyYAML's YAML 1.1 float needs a dot and a signed exponent, so 1e-2 was the string '1e-2'."""
    assert config.load(write(tmp_path, "success_threshold: 1e-2\n"), TaskConfig).success_threshold == 0.01
    assert config.load(write(tmp_path, "success_threshold: 5.0e-2\n"), TaskConfig).success_threshold == 0.05
    assert config.read_yaml(write(tmp_path, "a: 1E3\nb: -2.5e+1\nc: 1.0e5\n")) == {"a": 1000.0, "b": -25.0,
                                                                                 "c": 100000.0}
    with pytest.raises(ConfigError, match="image_size: expected an integer"):
        config.load(write(tmp_path, "image_size: 1e2\n"), TaskConfig)

    @dataclass
    class Named:
        name: str = field(default="", metadata=spec("a name"))

    assert config.load(write(tmp_path, 'name: "1e-2"\n'), Named).name == "1e-2"
    assert config.load(write(tmp_path, "name: 1e-2x\n"), Named).name == "1e-2x"


@pytest.mark.parametrize("content", [
    bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)),
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "image_size: 48\n".encode("utf-16"),
])
def test_binary_file_is_a_config_error_naming_the_file(tmp_path, content):
    path = tmp_path / "picture.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        config.load(path, TaskConfig)
    assert str(path) in str(err.value) and "not UTF-8 text" in str(err.value), str(err.value)


def test_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * 600_000 + "image_size: 48\n")  # 6 MB; real configs are a few kB
    with pytest.raises(ConfigError, match=rf"{path}: .*larger than"):
        config.load(path, TaskConfig)


@pytest.mark.parametrize("text, problem", [
    ("42\n", "expected a mapping"),
    ("just words\n", "expected a mapping"),
    ("- 1\n", "expected a mapping"),
    ("[" * 5000 + "]" * 5000 + "\n", "nested"),
    ("image_size: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    ("a: {" * 3000 + "}" * 3000 + "\n", "nested"),
    ("stamp: 2001-13-01\n", "line 1"),
    ("reward_type: !!timestamp x\n", "line 1: cannot read 'x'"),  # an AttributeError escaped from PyYAML
    ("random_start: !!bool maybe\n", "line 1: cannot read 'maybe'"),  # a KeyError
    ("big: 0x" + "f" * 20000 + "\n", "unknown key"),
])
def test_odd_documents_give_a_clear_config_error(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path, TaskConfig)
    message = str(err.value)
    assert str(path) in message and problem in message and len(message) < 1000, message[:2000]


def test_error_messages_bound_the_value_they_show(tmp_path):
    path = write(tmp_path, "image_size: [" + ", ".join(["123456789"] * 20000) + "]\n")
    with pytest.raises(ConfigError) as err:
        config.load(path, TaskConfig)
    assert "expected an integer" in str(err.value) and len(str(err.value)) < 300, str(err.value)[:500]
    path = write(tmp_path, "? " + "x" * 50000 + "\n: 1\n")  # an explicit key may be that long
    with pytest.raises(ConfigError, match="unknown key") as err:
        config.load(path, TaskConfig)
    assert len(str(err.value)) < 1000


def testshort_repr_matches_repr_for_small_values_and_is_bounded_for_huge_ones():
    for value in (1, 0.5, "abc", [1, "x", None], {"a": [1, 2]}, (1,), (1, 2), True):
        assert config.short_repr(value) == repr(value)
    shared = ["lol"] * 9
    for _ in range(8):
        shared = [shared] * 9  # 9^9 items if expanded
    assert len(config.short_repr(shared)) <= 83
    assert "bits" in config.short_repr(int("f" * 5000, 16))


# ---- robot YAML: physical ranges ------------------------------------------------------------------------------------
def robot_yaml(tmp_path, replace: dict[str, str] | None = None, mjcf_text: str | None = None) -> Path:
    lines = (ASSETS / "gantry.yaml").read_text().splitlines()
    for key, value in (replace or {}).items():
        lines = [f"{key}: {value}" if ln.startswith(f"{key}:") else ln for ln in lines]
    (tmp_path / "gantry.xml").write_text(mjcf_text or (ASSETS / "gantry.xml").read_text())
    path = tmp_path / "robot.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("workspace, message", [
    ("{low: [-1000, -1000, -1000], high: [1000, 1000, 1000]}", "workspace.low[0]: -1000.0 is out of range"),
    ("{low: [0.3, -0.1, 0.47], high: [0.7, 0.3, 9.5]}", "workspace.high[2]: 9.5 is out of range"),
])
def test_robot_workspace_must_be_within_a_few_metres(tmp_path, workspace, message):
    from rigbot.sim.robot import load_robot

    path = robot_yaml(tmp_path, {"workspace": workspace})
    with pytest.raises(ConfigError) as err:
        load_robot(path)
    assert str(path) in str(err.value) and message in str(err.value), str(err.value)


@pytest.mark.parametrize("timestep, control_hz, message", [
    ("5", "20", 'gantry.xml: <option timestep="5"> is outside (0, 0.05] s'), ("0.1", "20", 'timestep="0.1"> is outside'),
    ("-0.01", "20", "outside"), ("0.04", "50", "longer than one control period"),
])
def test_robot_mjcf_timestep_must_be_a_physics_step(tmp_path, timestep, control_hz, message):
    """`timestep: 5` in the MJCF was accepted: one physics step of 5 s per 50 ms command."""
    from rigbot.sim.robot import load_robot

    mjcf = (ASSETS / "gantry.xml").read_text().replace('timestep="0.004"', f'timestep="{timestep}"')
    assert f'timestep="{timestep}"' in mjcf
    path = robot_yaml(tmp_path, {"control_hz": control_hz}, mjcf_text=mjcf)
    with pytest.raises(ConfigError) as err:
        load_robot(path)
    assert str(path) in str(err.value) and "timestep" in str(err.value) and message in str(err.value), str(err.value)


def test_ik_walk_to_a_far_target_is_bounded_in_solves():
    """A target far outside any reach (as a +-1000 m workspace allowed) walked 2 cm at a time: 50 000 IK solves,
    over 60 s. The walk now takes a bounded number of solves and reports a large residual."""
    from rigbot.sim.cartesian_control import CartesianVelocityController
    from rigbot.sim.rendering import mujoco
    from rigbot.sim.robot import load_robot, load_spec

    robot = load_robot()
    model = load_spec(robot).compile()

    class Counting(CartesianVelocityController):
        solves = 0

        def solve_ik(self, *args, **kwargs):
            Counting.solves += 1
            if Counting.solves > 5000:
                raise AssertionError("the IK walk is not bounded")
            return super().solve_ik(*args, **kwargs)

    data = mujoco.MjData(model)
    residual = Counting(model, robot).place(data, np.array([1000.0, 0.0, 0.0]))
    assert Counting.solves <= 300 and residual > 100
    Counting.solves = 0
    assert Counting(model, robot).place(data, np.array([0.35, 0.05, 0.1])) < 1e-3  # a reachable target still works


def test_strings_that_look_like_exponent_floats_survive_a_round_trip(tmp_path):
    import yaml

    data = {"name": "1e5", "serial": "2E-3", "number": 1e-05}
    assert config.parse_yaml(config.dump_yaml(data)) == data
    assert yaml.safe_load(config.dump_yaml(data)) == data  # PyYAML's own loader is not changed
    path = tmp_path / "out.yaml"
    config.dump({"name": "1e5"}, path)
    assert config.read_yaml(path) == {"name": "1e5"}


def test_importing_rigbot_leaves_pyyaml_as_it_was():
    """rigbot's quoting of '1e5' is its own dumper's: a process that imports rigbot.config (as this one has)
    keeps PyYAML's safe_dump and SafeDumper exactly as PyYAML made them."""
    import yaml

    assert yaml.safe_dump({"a": "1e5"}) == "a: 1e5\n"
    assert issubclass(config.ConfigDumper, yaml.SafeDumper) and config.ConfigDumper is not yaml.SafeDumper
    fresh = subprocess.run([sys.executable, "-c", "import yaml; print(sorted(map(str, "
                            "yaml.SafeDumper.yaml_implicit_resolvers.get('1', []))))"],
                           capture_output=True, text=True, check=True).stdout
    assert fresh.strip() == str(sorted(map(str, yaml.SafeDumper.yaml_implicit_resolvers.get("1", []))))


CORE = [Path(__file__).parent.parent / d for d in ("rigbot", "sim", "perception", "policy", "calibration",
                                                    "robot_ws/src")]


def _core_sources():
    return [p for d in CORE for p in sorted(d.rglob("*.py"))]


def test_every_rigbot_yaml_writer_quotes_what_rigbot_would_read_back_as_a_number():
    """A writer using plain yaml.safe_dump writes the string '1e5' bare, and rigbot reads it back as 100000.0."""
    offenders = [f"{p}:{n}" for p in _core_sources() for n, line in enumerate(p.read_text().splitlines(), 1)
                 if "yaml.safe_dump(" in line and not line.lstrip().startswith("#")]
    assert not offenders, offenders


def test_bounds_live_in_one_module_that_loads_nothing_heavy():
    from rigbot import limits, media
    from rigbot.calibration import camera_info, deployment, pose_files
    from rigbot.perception import frame_dataset
    from rigbot.sim import robot

    assert media.MAX_SIDE == camera_info.MAX_IMAGE_SIDE_PX == limits.MAX_IMAGE_SIDE_PX == 8192
    roi = next(f for f in dataclasses.fields(deployment.DeploymentConfig) if f.name == "roi")
    assert roi.metadata["range"] == (0, limits.MAX_IMAGE_SIDE_PX)
    assert robot.MAX_COORDINATE_M == deployment.MAX_COORDINATE_M == limits.MAX_COORDINATE_M
    assert pose_files.MAX_REACH_M == frame_dataset.MAX_HAND_DISTANCE_M == limits.MAX_HAND_DISTANCE_M
    assert limits.MAX_HAND_DISTANCE_M <= limits.MAX_COORDINATE_M  # no recorded hand beyond any box rigbot accepts
    speed = next(f for f in dataclasses.fields(robot.RobotConfig) if f.name == "max_linear_speed")
    assert speed.default == limits.DEFAULT_LINEAR_SPEED_M_S
    assert speed.metadata["range"] == limits.LINEAR_SPEED_RANGE_M_S
    assert robot.DEFAULT_ROBOT == deployment.default_robot_yaml() == limits.DEFAULT_ROBOT_YAML
    assert limits.DEFAULT_ROBOT_YAML.is_file()
    loaded = subprocess.run([sys.executable, "-c", "import sys, rigbot.limits, rigbot.text, rigbot.calibration."
                             "deployment, rigbot.control.safety_gate; print(sorted({'mujoco', 'cv2', 'torch'} & "
                             "set(sys.modules)))"], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_one_short_repr_for_error_messages():
    """Values from files go into messages through rigbot.text.short_repr, not private copies of it, bare repr()
    or '!r:.N' specs (which build the whole repr first: slow, or refused, for a 400-digit integer)."""
    from rigbot import text

    assert config.short_repr is text.short_repr
    skipped = ("text.py",)
    offenders = [f"{p}:{n}" for p in _core_sources() if not any(s in p.parts for s in skipped)
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"!r:\.\d|\brepr\(", line)]
    assert not offenders, offenders
    assert text.short_repr("x" * 1000, 120) == repr("x" * 119)[:120] + "..."  # a longer limit shows more
    assert text.short_repr(10 ** 400) == "<an integer of 1329 bits>"
