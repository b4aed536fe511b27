"""A versioned store of policy weights: what a learner publishes and a running policy node swaps to.

A store is a folder::

    store.yaml            the architecture every version must have (task, observation, sizes, learner config,
                          speed limit, control rate, image size, VAE config), fixed when the store is made
    versions/v000001/     a complete policy folder (policy.safetensors, policy.yaml, vae/) plus version.yaml:
    versions/v000002/     its number, the version it was trained from, when, and a SHA-256 of every file
    current.yaml          which version is in use, and the versions that were in use before it (for rollback)

Publishing writes the new folder under a temporary name, fsyncs every file and the folder, renames it into place
(a rename is atomic), fsyncs ``versions/``, and only then rewrites ``current.yaml`` (also by rename). A crash at
any point leaves either the old or the new version current, never half of one; a leftover temporary folder is
ignored and removed by the next publish.

Loading a version re-hashes its files (a flipped bit is refused, not run), checks its policy.yaml against
``store.yaml`` and its weights against its policy.yaml (``load_policy``), and reads tensors with safetensors, so
no code in a store is ever executed. Every refusal raises ``WeightStoreError`` saying why.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
from pathlib import Path

from rigbot import config
from rigbot.config import ConfigError
from rigbot.files import atomic_write

STORE, CURRENT, VERSION, VERSIONS = "store.yaml", "current.yaml", "version.yaml", "versions"
# what must stay the same across versions for a running graph to swap between them
POLICY_KEYS = ("task", "observation", "obs_dim", "goal_dim", "action_dim", "max_linear_speed", "control_hz",
               "image_size", "learner")
_NAME = re.compile(r"^v(\d{6})$")


class WeightStoreError(ValueError):
    """A store, or a version in it, that rigbot refuses to use; the message says why."""


def architecture(policy_dir: str | Path) -> dict:
    """The part of a policy folder's config that every version of a store shares (see ``POLICY_KEYS``), after
    checking its policy.yaml field by field (types and ranges: ``checkpoint.read_policy_config``)."""
    from rigbot.policy.weights.checkpoint import read_policy_config

    policy_dir = Path(policy_dir)
    path = policy_dir / "policy.yaml"
    meta = config.read_yaml(path)
    try:
        runtime, _ = read_policy_config(meta, str(path))
    except ConfigError as e:
        raise WeightStoreError(str(e)) from None
    # meta's own values (as written in store.yaml), each present once read_policy_config accepted meta
    arch = {**{k: meta[k] for k in POLICY_KEYS if k != "learner"}, "learner": runtime.learner}
    arch[runtime.learner] = meta[runtime.learner]
    vae_yaml = policy_dir / "vae" / "vae.yaml"
    if vae_yaml.is_file():
        raw = config.read_yaml(vae_yaml)
        arch["vae"] = raw.get("vae") if isinstance(raw, dict) else None
    return arch


def differences(expected: dict, got: dict, prefix: str = "") -> list[str]:
    """Human-readable list of the keys where ``got`` differs from ``expected`` (nested)."""
    out = []
    for key in sorted(set(expected) | set(got), key=str):
        a, b = expected.get(key), got.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {b!r} (the store needs {a!r})")
    return out


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != VERSION)


def _write_yaml_durably(path: Path, data: dict) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w") as f:
            f.write(config.dump_yaml(data, sort_keys=False))
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)
    _fsync_path(path.parent)


class WeightStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if not (self.root / STORE).is_file():
            raise WeightStoreError(f"{self.root}: not a weight store (no {STORE}); make one with "
                                   "'rigbot weights init FOLDER --from CHECKPOINT'")
        raw = config.read_yaml(self.root / STORE)
        if not isinstance(raw, dict) or not isinstance(raw.get("architecture"), dict):
            raise WeightStoreError(f"{self.root / STORE}: not a weight store's description (no 'architecture' "
                                   "mapping): damaged or edited")
        self.architecture = raw["architecture"]

    # ---- making one ---------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, checkpoint: str | Path) -> "WeightStore":
        """A new store whose version 1 is a copy of the trained policy folder ``checkpoint``.
        An existing store is opened instead, after checking that ``checkpoint`` has its architecture."""
        root, checkpoint = Path(root).expanduser(), Path(checkpoint).expanduser()
        if not (checkpoint / "policy.yaml").is_file():
            raise WeightStoreError(f"{checkpoint}: not a policy folder (no policy.yaml)")
        arch = architecture(checkpoint)
        _check_loads(checkpoint)  # read and checked whole before anything is written: a refusal leaves no store
        if (root / STORE).is_file():
            store = cls(root)
            diff = differences(store.architecture, arch)
            if diff:
                raise WeightStoreError(f"{checkpoint} does not fit the existing store {root}: " + "; ".join(diff))
            return store
        root.mkdir(parents=True, exist_ok=True)
        _write_yaml_durably(root / STORE, {"format": 1, "architecture": arch, "created_from": str(checkpoint)})
        store = cls(root)
        store.publish_folder(checkpoint, parent=None, info={"source": f"copied from {checkpoint}"})
        return store

    # ---- reading ----------------------------------------------------------------------------------------------
    def versions(self) -> list[int]:
        folder = self.root / VERSIONS
        found = [_NAME.match(p.name) for p in folder.iterdir()] if folder.is_dir() else []
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, version: int) -> Path:
        return self.root / VERSIONS / f"v{int(version):06d}"

    def pointer(self) -> dict:
        """current.yaml: ``version`` (in use) and ``history`` (those in use before it), checked."""
        path = self.root / CURRENT
        if not path.is_file():
            raise WeightStoreError(f"{path}: missing; the store has no current version")
        raw = config.read_yaml(path)
        history = raw.get("history", []) if isinstance(raw, dict) else None
        if (not isinstance(raw, dict) or not _is_version_number(raw.get("version")) or not isinstance(history, list)
                or not all(_is_version_number(v) for v in history)):
            raise WeightStoreError(f"{path}: expected 'version: N' and 'history: [N, ...]' with version numbers "
                                   "N >= 1: damaged or edited")
        return {"version": raw["version"], "history": history}

    def current(self) -> int:
        return self.pointer()["version"]

    def info(self, version: int) -> dict:
        path = self.path(version) / VERSION
        if not path.is_file():
            raise WeightStoreError(f"version {version} of {self.root}: not published ({path} missing)")
        raw = config.read_yaml(path)
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise WeightStoreError(f"{path}: no 'files' list of names and SHA-256 digests: damaged or edited")
        return raw

    def verify(self, version: int) -> Path:
        """The folder of ``version`` after checking every file in it (weights and YAMLs alike) against the hash it
        was published with, and its config against the store's; raises WeightStoreError naming the first problem.

        This is the one check for everything loaded from a store: ``load`` (``rigbot weights check``, the policy
        node, the learner) and ``resolve_checkpoint`` (the encoder, goal and episode manager nodes) both run it."""
        folder = self.path(version)
        info = self.info(version)
        listed = info["files"]
        present = {str(p.relative_to(folder)) for p in _files(folder)}
        missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
        if missing or extra:
            raise WeightStoreError(f"version {version}: files missing {missing} or not published {extra}")
        for name, digest in listed.items():
            if _sha256(folder / name) != digest:
                raise WeightStoreError(f"version {version}: {name} is not the file that was published "
                                       "(its SHA-256 differs): damaged or edited; refusing it")
        diff = differences(self.architecture, architecture(folder))
        if diff:
            raise WeightStoreError(f"version {version} does not match the store's architecture: " + "; ".join(diff))
        return folder

    def load(self, version: int | None = None, device=None):
        """The ``GoalReachingPolicy`` of ``version`` (default: the current one), verified first, on ``device``
        (None: the CPU)."""
        from rigbot.policy.weights.checkpoint import load_policy_folder

        version = self.current() if version is None else int(version)
        folder = self.verify(version)
        try:
            return load_policy_folder(folder, device)
        except (ValueError, OSError) as e:
            raise WeightStoreError(f"version {version}: {e}") from None

    # ---- writing ----------------------------------------------------------------------------------------------
    def publish_folder(self, source: str | Path, parent: int | None, info: dict | None = None,
                       make_current: bool = True) -> int:
        """Publish a complete policy folder as the next version; returns its number."""
        with self._writer_lock():
            return self._publish_folder(Path(source), parent, info, make_current)

    def _writer_lock(self):
        """One publisher at a time (a learner, and a person's ``rigbot weights`` command, say)."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def held():
            with open(self.root / ".lock", "w") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                yield
        return held()

    def _publish_folder(self, source: Path, parent: int | None, info: dict | None, make_current: bool) -> int:
        diff = differences(self.architecture, architecture(source))
        if diff:
            raise WeightStoreError(f"{source} does not match the store's architecture: " + "; ".join(diff))
        versions_dir = self.root / VERSIONS
        versions_dir.mkdir(exist_ok=True)
        for stale in versions_dir.glob(".tmp-*"):  # left by a crash mid-publish
            shutil.rmtree(stale, ignore_errors=True)
        version = (max(self.versions(), default=0)) + 1
        tmp = versions_dir / f".tmp-v{version:06d}-{os.getpid()}"
        shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(VERSION, "training", "data", "*.png", "*.gif",
                                                                   "curve.*", "eval*"))
        files = {}
        for p in _files(tmp):
            with open(p, "rb+") as f:
                os.fsync(f.fileno())
            files[str(p.relative_to(tmp))] = _sha256(p)
        meta = {"version": version, "parent": parent,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                **(info or {}), "files": files}
        _write_yaml_durably(tmp / VERSION, meta)
        for d in sorted({p.parent for p in _files(tmp)} | {tmp}, key=lambda d: -len(d.parts)):
            _fsync_path(d)
        os.rename(tmp, self.path(version))
        _fsync_path(versions_dir)
        if make_current:
            self._set_current(version)
        return version

    def publish(self, agent, meta: dict, encoder=None, parent: int | None = None, info: dict | None = None) -> int:
        """Publish an agent (and its encoder, or the parent version's VAE) as the next version."""
        import tempfile

        from rigbot.policy.weights.checkpoint import save_policy

        with tempfile.TemporaryDirectory(dir=self.root, prefix=".build-") as build:
            build = Path(build)
            save_policy(build, agent, meta)
            if encoder is not None:
                from rigbot.perception.vae import save_checkpoint
                save_checkpoint(build / "vae", encoder.vae, encoder.prior, encoder.preprocess,
                                info={"finetuned_online": True})
            elif parent is not None and (self.path(parent) / "vae").is_dir():
                shutil.copytree(self.path(parent) / "vae", build / "vae")
            return self.publish_folder(build, parent, info)

    def set_current(self, version: int) -> None:
        """Make ``version`` current (verified first), remembering the one before for ``rollback``."""
        with self._writer_lock():
            self._set_current(version)

    def _set_current(self, version: int) -> None:
        self.verify(version)
        history: list[int] = []
        if (self.root / CURRENT).is_file():
            pointer = self.pointer()
            history = [*pointer.get("history", []), int(pointer["version"])][-50:]
        _write_yaml_durably(self.root / CURRENT, {"version": int(version), "history": history})

    def rollback(self) -> int:
        """Make the version that was current before this one current again; returns it."""
        with self._writer_lock():
            return self._rollback()

    def _rollback(self) -> int:
        pointer = self.pointer()
        history = list(pointer.get("history", []))
        while history:
            previous = history.pop()
            if previous != pointer["version"]:
                self.verify(previous)
                _write_yaml_durably(self.root / CURRENT, {"version": previous, "history": history})
                return previous
        raise WeightStoreError(f"{self.root}: no earlier version to roll back to (current: {pointer['version']})")


def _is_version_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_loads(folder: Path) -> None:
    """Refuse a policy folder unless it loads as a deployment would load it (every file read and checked; a
    folder inside another store is verified against that store's hashes too)."""
    from rigbot.policy.weights.checkpoint import load_policy

    try:
        load_policy(folder)
    except (ValueError, OSError) as e:
        raise WeightStoreError(f"{folder}: refusing to publish it: {e}") from None


def _version_folder(path: Path) -> tuple["WeightStore", int] | None:
    """The store and version number when ``path`` is a version folder of a store, or a folder inside one."""
    for folder in (path, path.parent):
        folder = folder.resolve()
        m = _NAME.match(folder.name)
        if m and folder.parent.name == VERSIONS and (folder.parent.parent / STORE).is_file():
            return WeightStore(folder.parent.parent), int(m.group(1))
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A policy folder for ``path``: itself, or the current version's folder when ``path`` is a weight store.

    Anything in a store (the store itself, a version folder, or its ``vae/``) is verified first
    (``WeightStore.verify``, as ``rigbot weights check`` does), so no node loads a replaced or edited file."""
    path = Path(path).expanduser()
    if (path / STORE).is_file():
        store = WeightStore(path)
        return store.verify(store.current())
    found = _version_folder(path)
    if found is not None:
        store, version = found
        store.verify(version)
    return path
