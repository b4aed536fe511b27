"""YAML configuration is validated on load, and every error names the file and the key."""
from dataclasses import dataclass, field

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
