"""Weight stores and policy folders from someone else: every file a node or a command loads is checked first.

Each case is what an attacker (or a bad disk) could leave behind: a replaced or edited file in a store version,
broken safetensors, NaN weights, and policy.yaml runtime fields out of range or not the weights'. Each must be
refused with an error that names the file and the problem, quickly, in bounded memory, and with nothing written.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rigbot import config
from rigbot.cli import main
from rigbot.config import ConfigError
from rigbot.perception.latent_prior import LatentPrior
from rigbot.perception.preprocessing import PreprocessConfig
from rigbot.perception.vae import ConvVAE, VAEConfig, save_checkpoint
from rigbot.policy.weights.checkpoint import TAG, load_policy, save_policy
from rigbot.policy.agents.td3 import TD3, TD3Config
from rigbot.policy.weights.weight_store import WeightStore, WeightStoreError, _sha256
from rigbot.weights import save_weights

LATENT = 4


def small_policy(folder: Path, seed: int = 0, heldout_mse: float | None = 0.01, **meta_overrides) -> Path:
    """An untrained latent reach policy with its (untrained, tiny) VAE: real files, made in well under a second."""
    torch.manual_seed(seed)
    info = {} if heldout_mse is None else {"heldout_mse": heldout_mse}
    save_checkpoint(folder / "vae", ConvVAE(VAEConfig(latent_dim=LATENT, channels=[4, 4, 4, 4])),
                    LatentPrior.standard(LATENT), PreprocessConfig(), info=info)
    td3 = TD3Config(hidden=[16, 16])
    meta = {"task": "reach", "observation": "latent", "obs_dim": LATENT, "goal_dim": LATENT, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48, "td3": config.to_dict(td3),
            **meta_overrides}
    return save_policy(folder, TD3(td3, LATENT, LATENT, 2), meta)


def republish(store: WeightStore, edit, source: int | None = None) -> int:
    """A copy of version ``source`` (default: the current one) with ``edit(folder)`` applied and honest hashes:
    what a foreign or buggy publisher could leave (publish itself would refuse it; the hashes pass, so only the
    content checks stand between it and the robot). Returns the new version's number."""
    new = max(store.versions()) + 1
    folder = store.path(new)
    shutil.copytree(store.path(store.current() if source is None else source), folder)
    edit(folder)
    info = yaml.safe_load((folder / "version.yaml").read_text())
    info["version"] = new
    info["files"] = {name: _sha256(folder / name) for name in info["files"]}
    (folder / "version.yaml").write_text(yaml.safe_dump(info))
    return new


def edit_yaml(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def nan_actor(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = folder / "policy.safetensors"
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["actor.0.weight"][0, 0] = float("nan")
    save_file(tensors, str(path), metadata=metadata)


def huge_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2 ** 60) + data[8:])


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def run_cli(*argv: str, capsys) -> tuple[int, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out + out.err


# ---- weights init reads what it publishes ------------------------------------------------------------------------
@pytest.mark.parametrize("damage, file, problem", [
    (huge_header, "policy.safetensors", "header"),
    (truncate, "policy.safetensors", ""),
    (huge_header, "vae/vae.safetensors", "header"),
    (truncate, "vae/vae.safetensors", ""),
    (nan_actor, "policy.safetensors", "actor.0.weight"),
])
def test_weights_init_refuses_broken_weights_and_writes_nothing(tmp_path, capsys, damage, file, problem):
    ck = small_policy(tmp_path / "ck")
    damage(ck / file if damage is not nan_actor else ck)
    store = tmp_path / "store"
    rc, text = run_cli("weights", "init", str(store), "--from", str(ck), capsys=capsys)
    assert rc == 2, text
    assert str(ck / file) in text and problem in text, text
    assert not store.exists(), "a refused init left files behind"


def test_weights_init_and_check_accept_a_sound_policy(tmp_path, capsys):
    ck = small_policy(tmp_path / "ck")
    rc, text = run_cli("weights", "init", str(tmp_path / "store"), "--from", str(ck), capsys=capsys)
    assert rc == 0, text
    rc, text = run_cli("weights", "check", str(tmp_path / "store"), capsys=capsys)
    assert rc == 0 and "is sound" in text, text


# ---- weights check refuses what no node may run -------------------------------------------------------------------
def test_weights_check_refuses_nan_weights_naming_the_tensor(tmp_path, capsys):
    store = WeightStore.create(tmp_path / "store", small_policy(tmp_path / "ck"))
    bad = republish(store, nan_actor)
    rc, text = run_cli("weights", "check", str(store.root), str(bad), capsys=capsys)
    assert rc == 2 and "actor.0.weight" in text and "NaN" in text, text
    assert "sound" not in text


NAN_VAE = "vae.to_mean.weight"


def test_a_vae_with_nan_weights_is_refused_naming_the_tensor(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from rigbot.perception.vae import load_checkpoint

    ck = small_policy(tmp_path / "ck")
    path = ck / "vae" / "vae.safetensors"
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["to_mean.weight"][1, 2] = float("inf")
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ValueError, match=r"vae\.safetensors: tensor to_mean\.weight holds NaN or Inf"):
        load_checkpoint(ck / "vae")


# ---- policy.yaml runtime fields: typed, in range, and the weights' own ------------------------------------------
BAD_FIELDS = [
    ({"max_linear_speed": -0.2}, "max_linear_speed"),
    ({"max_linear_speed": 0.0}, "max_linear_speed"),
    ({"max_linear_speed": float("nan")}, "max_linear_speed"),
    ({"control_hz": 0}, "control_hz"),
    ({"image_size": 100000}, "image_size"),
    ({"task": "push"}, "task"),  # a reach network: the weights say which task they were trained on
    ({"task": "fly"}, "task"),
    ({"observation": "pixels"}, "observation"),
    ({"action_dim": "2"}, "action_dim"),
]


@pytest.mark.parametrize("change, key", BAD_FIELDS, ids=[f"{k}={v}" for c, _ in BAD_FIELDS for k, v in c.items()])
def test_policy_yaml_runtime_fields_are_range_checked_and_tied_to_the_weights(tmp_path, capsys, change, key):
    ck = small_policy(tmp_path / "ck")
    store = WeightStore.create(tmp_path / "store", ck)
    edit_yaml(ck / "policy.yaml", **change)
    with pytest.raises(ValueError, match=rf"policy\.yaml.*{key}"):
        load_policy(ck)
    # weights init refuses it and writes nothing; weights check refuses it in a store
    rc, text = run_cli("weights", "init", str(tmp_path / "other"), "--from", str(ck), capsys=capsys)
    assert rc == 2 and key in text and not (tmp_path / "other").exists(), text
    bad = republish(store, lambda f: edit_yaml(f / "policy.yaml", **change))
    rc, text = run_cli("weights", "check", str(store.root), str(bad), capsys=capsys)
    assert rc == 2 and key in text and "sound" not in text, text


def test_policies_saved_before_the_runtime_fields_were_recorded_still_load(tmp_path):
    """Weights written by earlier rigbot versions carry only the architecture; they load as before."""
    ck = small_policy(tmp_path / "ck")
    path = ck / "policy.safetensors"
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(path), framework="pt") as f:
        saved = json.loads(f.metadata()[TAG])
    old = {k: saved[k] for k in ("observation", "obs_dim", "goal_dim", "action_dim", "td3")}
    save_weights(path, load_file(str(path)), old, TAG)
    assert load_policy(ck).task == "reach"


def _peak_rss_growth_mb(code: str) -> tuple[float, str]:
    """Run ``code`` (which must define ``attempt()``) in a fresh interpreter; its peak RSS growth over the import
    baseline in MB, and what it printed."""
    script = (
        "import resource, sys\n" + code +
        "\nbase = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    attempt()\n    print('ACCEPTED')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
        "print('GROWTH', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    growth = float(out.stdout.rsplit("GROWTH", 1)[1])
    return growth, out.stdout


def test_declared_hidden_sizes_are_checked_against_the_weights_before_anything_is_built(tmp_path):
    ck = small_policy(tmp_path / "ck")
    # a policy.yaml asking for a huge network beside the small weights
    edit_yaml(ck / "policy.yaml", td3={**config.to_dict(TD3Config(hidden=[16, 16])), "hidden": [8000, 8000]})
    code = (f"from rigbot.policy.weights.checkpoint import load_policy\nimport rigbot.policy.agents.td3\n"
            f"def attempt():\n    load_policy({str(ck)!r})\n")
    growth, text = _peak_rss_growth_mb(code)
    assert "ACCEPTED" not in text and "hidden" in text and "policy.safetensors" in text, text
    assert growth < 300, f"refusing the config took {growth:.0f} MB: the network was built first\n{text}"
    # a crafted file whose metadata agrees with the YAML but whose tensors are small: the shapes give it away
    meta = yaml.safe_load((ck / "policy.yaml").read_text())
    from safetensors.torch import load_file
    arch = {k: meta[k] for k in ("observation", "obs_dim", "goal_dim", "action_dim", "td3")}
    save_weights(ck / "policy.safetensors", load_file(str(ck / "policy.safetensors")), arch, TAG)
    growth, text = _peak_rss_growth_mb(code)
    assert "ACCEPTED" not in text and "actor.0.weight" in text and "(8000," in text, text
    assert growth < 300, f"refusing the shapes took {growth:.0f} MB: the network was built first\n{text}"


def test_load_weights_asks_for_the_expected_shapes_only_once_the_config_matches(tmp_path):
    """Both loaders (policy and VAE) go through ``load_weights``: a config the file was not saved with is refused
    before the shapes (a network on the meta device, or a config that cannot be built at all) are asked for."""
    from rigbot.weights import WeightsFileError, expected_shapes, load_weights

    path = save_weights(tmp_path / "w.safetensors", torch.nn.Linear(3, 2).state_dict(), {"hidden": 2}, "tag")
    asked = []

    def shapes():
        asked.append(True)
        return expected_shapes(lambda: torch.nn.Linear(3, 2))
    with pytest.raises(WeightsFileError, match=r"w\.safetensors was saved with config hidden=2, but "
                                               r"the YAML says hidden=8000"):
        load_weights(path, {"hidden": 8000}, "tag", shapes, cfg_source="the YAML")
    assert not asked
    tensors = load_weights(path, {"hidden": 2}, "tag", shapes)
    assert asked == [True] and tuple(tensors["weight"].shape) == (2, 3)


def test_non_finite_tensor_names_the_first_one_one_byte_floats_too():
    """The one finite check for weights read (``read_tensors``) and weights published (the online learner)."""
    from rigbot.weights import non_finite_tensor

    nan = torch.tensor([1.0, float("nan")])
    assert non_finite_tensor({"a": torch.ones(2), "b": torch.arange(3)}) is None
    assert non_finite_tensor({"a": torch.ones(2), "b": nan, "c": nan}) == "b"
    assert non_finite_tensor({"f8": nan.to(torch.float8_e4m3fn)}) == "f8"  # torch.isfinite refuses 1-byte floats
    assert non_finite_tensor({"inf": torch.tensor([float("inf")], dtype=torch.bfloat16)}) == "inf"


# ---- the safetensors reader bounds what it reads ----------------------------------------------------------------
def test_a_header_claiming_two_to_the_sixty_bytes_is_refused_at_once(tmp_path):
    from rigbot.weights import WeightsFileError, read_header

    ck = small_policy(tmp_path / "ck")
    huge_header(ck / "policy.safetensors")
    with pytest.raises(WeightsFileError, match=r"policy\.safetensors: .*header of 1152921504606846976 bytes"):
        read_header(ck / "policy.safetensors")
    with pytest.raises(ValueError, match=r"policy\.safetensors: .*header"):
        load_policy(ck)


def _raw_safetensors(path: Path, header: dict, data: bytes = b"") -> Path:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


@pytest.mark.parametrize("header, data, problem", ids=["huge-shape", "past-the-end", "negative", "dtype", "overlap",
                                                      "metadata", "list"], argvalues=[
    ({"a": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 16]}}, b"\0" * 16, "shape"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "offsets"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b"", "shape"),
    ({"a": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "dtype"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "overlap"),
    ({"__metadata__": {"k": 5}}, b"", "metadata"),
    ([1, 2], b"", "mapping"),
])
def test_malformed_headers_are_refused_naming_the_problem(tmp_path, header, data, problem):
    from rigbot.weights import WeightsFileError, read_header

    path = _raw_safetensors(tmp_path / "w.safetensors", header, data)
    with pytest.raises(WeightsFileError, match=rf"w\.safetensors: .*{problem}"):
        read_header(path)


# ---- nodes load only verified versions ----------------------------------------------------------------------------
def test_everything_loaded_from_a_store_is_verified_like_weights_check(tmp_path):
    pytest.importorskip("rclpy")
    from rigbot_ros.node_runtime import load_encoder, vae_dir

    from rigbot.policy.weights.weight_store import resolve_checkpoint

    store = WeightStore.create(tmp_path / "store", small_policy(tmp_path / "ck"))
    version = store.path(1)
    assert load_encoder(store.root).latent_dim == LATENT and vae_dir(store.root) == version / "vae"
    edit_yaml(version / "vae" / "vae.yaml", info={"heldout_mse": 1000.0})  # would switch the goal check off
    for where in (store.root, version, version / "vae"):  # the store, a version folder, its VAE folder
        for load in (resolve_checkpoint, vae_dir, load_encoder, load_policy):
            with pytest.raises(WeightStoreError, match=r"vae/vae\.yaml is not the file that was published"):
                load(where)


def _replace_vae(folder: Path, tmp_path: Path) -> None:
    other = small_policy(tmp_path / "other", seed=1)
    shutil.copy(other / "vae" / "vae.safetensors", folder / "vae" / "vae.safetensors")


def _edit_vae_yaml(folder: Path, tmp_path: Path) -> None:
    edit_yaml(folder / "vae" / "vae.yaml", info={"heldout_mse": 1000.0})


@pytest.mark.parametrize("node, edit, file", [
    ("encoder", _replace_vae, "vae/vae.safetensors"),
    ("goal", _edit_vae_yaml, "vae/vae.yaml"),
])
def test_nodes_refuse_a_store_whose_vae_was_replaced(tmp_path, node, edit, file):
    pytest.importorskip("rclpy")
    from ros_helpers import NodeProcess

    store = WeightStore.create(tmp_path / "store", small_policy(tmp_path / "ck"))
    edit(store.path(1), tmp_path)
    proc = NodeProcess(node, tmp_path, params={"checkpoint": str(store.root)})
    try:
        rc = proc.proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise AssertionError(f"the {node} node started on a store whose {file} was replaced:\n{proc.log()}")
    finally:
        proc.stop()
    log = proc.log_path.read_text()
    assert rc == 2 and "cannot start" in log and f"{file} is not the file that was published" in log, log


def test_a_store_with_a_malformed_pointer_or_store_yaml_is_refused(tmp_path, capsys):
    store = WeightStore.create(tmp_path / "store", small_policy(tmp_path / "ck"))
    damaged = republish(store, lambda f: None)
    (store.path(damaged) / "version.yaml").write_text("- not\n- a mapping\n")
    with pytest.raises(WeightStoreError, match=r"version\.yaml: no 'files'"):
        store.load(damaged)
    rc, text = run_cli("weights", "list", str(store.root), capsys=capsys)  # the others are still listed
    assert rc == 0 and f"{damaged}  damaged" in text and "copied from" in text, text
    (store.root / "current.yaml").write_text("version: [1]\n")
    with pytest.raises(WeightStoreError, match=r"current\.yaml"):
        store.current()
    (store.root / "current.yaml").write_text("version: 7\nhistory: []\n")
    with pytest.raises(WeightStoreError, match="version 7"):
        store.load()
    (store.root / "store.yaml").write_text("format: 1\n")
    with pytest.raises(WeightStoreError, match=r"store\.yaml"):
        WeightStore(store.root)


def test_heldout_error_out_of_range_is_refused(tmp_path):
    from rigbot.perception.goal_images import heldout_error

    ck = small_policy(tmp_path / "ck")
    assert heldout_error(ck / "vae") == pytest.approx(0.01)
    for bad in (float("nan"), float("inf"), -1.0, 0.0, 5.0, "0.01"):
        edit_yaml(ck / "vae" / "vae.yaml", info={"heldout_mse": bad})
        with pytest.raises(ConfigError, match=r"vae\.yaml: info\.heldout_mse"):
            heldout_error(ck / "vae")
    edit_yaml(ck / "vae" / "vae.yaml", info={})
    assert heldout_error(ck / "vae") is None


def test_small_policy_is_sound(tmp_path):
    policy = load_policy(small_policy(tmp_path / "ck"))
    assert policy.encoder.latent_dim == LATENT
    a = policy.act(np.zeros(LATENT, np.float32), np.ones(LATENT, np.float32))
    assert a.shape == (2,) and np.all(np.abs(a) <= 0.2)
