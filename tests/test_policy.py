"""The RIG agent's parts: relabelling by fractions with recomputed rewards, TD3, policy checkpoints."""
import numpy as np
import pytest
import torch
import yaml

from rigbot.config import ConfigError
from rigbot.policy.weights.checkpoint import load_policy, save_policy
from rigbot.policy.training.replay_buffer import HindsightReplayBuffer, RelabelConfig
from rigbot.policy.agents.td3 import TD3, TD3Config


class MarkerPrior:
    """Imagined goals that can be told apart from stored ones: every coordinate is 1000."""

    def sample(self, n, rng):
        return np.full((n, 2), 1000.0, np.float32)


def _episode(T=10, goal=(-50.0, -50.0), index=0):
    # achieved[t] = (index, t): a goal vector tells which episode and step it came from
    achieved = np.stack([np.full(T + 1, float(index)), np.arange(T + 1, dtype=float)], 1)
    return {"obs": achieved.copy(), "achieved": achieved, "action": np.zeros((T, 1)), "goal": np.array(goal)}


def test_relabelling_follows_the_configured_fractions_and_recomputes_rewards():
    T = 10
    buf = HindsightReplayBuffer(1000, T, 2, 2, 1, RelabelConfig(rollout=0.2, prior=0.5, future=0.3),
                                goal_prior=MarkerPrior())
    for i in range(5):
        buf.add_episode(_episode(T, index=i))
    b = {k: v.numpy() for k, v in buf.sample(20000, np.random.default_rng(0)).items()}
    goal = b["goal"]
    rollout = np.all(goal == -50.0, 1)
    prior = np.all(goal == 1000.0, 1)
    future = ~rollout & ~prior
    assert abs(rollout.mean() - 0.2) < 0.02 and abs(prior.mean() - 0.5) < 0.02 and abs(future.mean() - 0.3) < 0.02
    # future goals come from the same episode, strictly later than the transition, up to the last state
    t = b["obs"][:, 1]
    assert np.all(goal[future, 0] == b["obs"][future, 0])
    assert np.all(goal[future, 1] > t[future]) and goal[future, 1].max() == T
    # reward recomputed for the chosen goal: minus the distance of the next achieved vector
    np.testing.assert_allclose(b["reward"], -np.linalg.norm(b["next_obs"] - goal, axis=1), rtol=1e-5)
    assert np.all(b["next_obs"][:, 1] == t + 1)


def test_pixel_rewards_compare_images_and_relabel_with_future_images():
    T, shape = 4, (8, 8, 3)
    buf = HindsightReplayBuffer(100, T, 2, 2, 1, RelabelConfig(rollout=0.5, prior=0.0, future=0.5,
                                                               reward="pixel_distance"), image_shape=shape)
    ep = _episode(T)
    ep["image"] = np.stack([np.full(shape, 10 * t, np.uint8) for t in range(T + 1)])
    ep["goal_image"] = np.full(shape, 255, np.uint8)
    buf.add_episode(ep)
    b = {k: v.numpy() for k, v in buf.sample(2000, np.random.default_rng(1)).items()}
    t = b["obs"][:, 1].astype(int)
    rollout = np.all(b["goal"] == -50.0, 1)
    side = np.sqrt(np.prod(shape))
    np.testing.assert_allclose(b["reward"][rollout], -(255 - 10 * (t[rollout] + 1)) / 255 * side, rtol=1e-5)
    fut = ~rollout
    np.testing.assert_allclose(b["reward"][fut], -10 * np.abs(b["goal"][fut, 1] - (t[fut] + 1)) / 255 * side,
                               rtol=1e-5, atol=1e-5)


def test_relabel_config_is_checked():
    with pytest.raises(ConfigError, match="sum to 1"):
        RelabelConfig(rollout=0.5, prior=0.5, future=0.5)
    with pytest.raises(ConfigError, match="imagined latent has no image"):
        RelabelConfig(reward="pixel_distance")
    with pytest.raises(ValueError, match="needs a goal prior"):
        HindsightReplayBuffer(100, 5, 2, 2, 1, RelabelConfig())


def test_replay_refuses_nan_and_survives_a_save_load_round_trip(tmp_path):
    buf = HindsightReplayBuffer(100, 10, 2, 2, 1, RelabelConfig(), goal_prior=MarkerPrior())
    bad = _episode()
    bad["obs"][3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        buf.add_episode(bad)
    assert buf.stored == 0
    for i in range(3):
        buf.add_episode(_episode(index=i))
    buf.save(tmp_path / "replay.npz")
    other = HindsightReplayBuffer(100, 10, 2, 2, 1, RelabelConfig(), goal_prior=MarkerPrior())
    other.load(tmp_path / "replay.npz")
    assert other.stored == 3 and all(np.array_equal(buf.data[k], other.data[k]) for k in buf.data)
    smaller = HindsightReplayBuffer(100, 10, 3, 3, 1, RelabelConfig(), goal_prior=MarkerPrior())
    with pytest.raises(ValueError, match="does not match"):
        smaller.load(tmp_path / "replay.npz")


def test_td3_learns_a_one_step_bandit():
    """Reward -|a - g|: the actor must learn to output the goal. A check that the gradients point the right way."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    agent = TD3(TD3Config(hidden=[64, 64], discount=0.0, policy_delay=1), 1, 1, 1)
    before = np.abs(agent.act(np.zeros((200, 1)), np.linspace(-0.8, 0.8, 200)[:, None]) -
                    np.linspace(-0.8, 0.8, 200)[:, None]).mean()
    for _ in range(1500):
        g = rng.uniform(-0.8, 0.8, (128, 1)).astype(np.float32)
        a = rng.uniform(-1, 1, (128, 1)).astype(np.float32)
        batch = {"obs": np.zeros((128, 1), np.float32), "next_obs": np.zeros((128, 1), np.float32), "goal": g,
                 "action": a, "reward": -np.abs(a - g)[:, 0]}
        agent.update({k: torch.from_numpy(v) for k, v in batch.items()})
    goals = np.linspace(-0.8, 0.8, 200)[:, None]
    after = np.abs(agent.act(np.zeros((200, 1)), goals) - goals).mean()
    assert after < 0.1 < before


def _meta(obs_dim=3):
    return {"task": "reach", "observation": "state", "obs_dim": obs_dim, "goal_dim": 2, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48,
            "td3": {"hidden": [32, 32], "discount": 0.99, "tau": 0.005, "actor_lr": 1e-3, "critic_lr": 1e-3,
                    "batch_size": 128, "policy_delay": 2, "target_noise": 0.2, "target_noise_clip": 0.5,
                    "action_l2": 0.0}}


def test_policy_checkpoint_round_trip_limits_and_refusals(tmp_path):
    meta = _meta()
    agent = TD3(TD3Config(hidden=[32, 32]), 3, 2, 2, np.arange(5.0), np.full(5, 2.0))
    save_policy(tmp_path, agent, meta)
    policy = load_policy(tmp_path)
    z, g = np.array([0.3, 0.1, 0.05], np.float32), np.array([0.4, -0.1], np.float32)
    a = policy.act(z, g)
    np.testing.assert_allclose(a, agent.act(z, g) * 0.2, rtol=1e-6)
    assert a.dtype == np.float32 and np.all(np.abs(a) <= 0.2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        policy.act(np.array([np.nan, 0, 0]), g)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        policy.act(np.zeros(4), g)
    # a config that does not match the weights is refused, naming both
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(_meta(obs_dim=5)))
    with pytest.raises(ValueError, match="was saved with config .*policy.yaml says"):
        load_policy(tmp_path)
    (tmp_path / "policy.yaml").write_text("task: reach\n")
    with pytest.raises(ConfigError, match="missing: observation"):
        load_policy(tmp_path)
    with pytest.raises(FileNotFoundError, match="rigbot train"):
        load_policy(tmp_path / "nowhere")


def test_policy_config_names_every_learner():
    """policy.yaml's ``learner`` is checked against PolicyConfig's list: a learner added to LEARNERS alone would be
    refused in every policy.yaml that names it."""
    from typing import get_args, get_type_hints

    from rigbot.policy.agents import LEARNERS
    from rigbot.policy.weights.checkpoint import PolicyConfig

    assert set(get_args(get_type_hints(PolicyConfig)["learner"])) == set(LEARNERS)


def test_loading_a_policy_reads_its_policy_yaml_once(tmp_path, monkeypatch):
    from rigbot.policy.weights import checkpoint

    save_policy(tmp_path, TD3(TD3Config(hidden=[32, 32]), 3, 2, 2), _meta())
    sources, read = [], checkpoint.read_policy_config
    monkeypatch.setattr(checkpoint, "read_policy_config", lambda meta, source: sources.append(source) or read(meta,
                                                                                                          source))
    policy = load_policy(tmp_path)
    assert sources == [str(tmp_path / "policy.yaml")]
    assert policy.config.task == policy.task == "reach" and policy.control_hz == 10.0 and policy.action_dim == 2


def test_online_vae_finetuning_refreshes_the_stored_latents(tmp_path):
    """RIG's optional online VAE training: after fine-tuning, every stored latent is the new encoder's."""
    from rigbot.perception.collect import collect
    from rigbot.perception.frame_dataset import load_frames
    from rigbot.perception.vae import VAEConfig, load_checkpoint
    from rigbot.perception.vae_training import train_vae
    from rigbot.policy.training.observations import make_view
    from rigbot.policy.training.rig import RIGTrainer, rig_config

    collect("reach", 100, tmp_path / "data", progress=False)
    train_vae(load_frames(tmp_path / "data")["images"], tmp_path / "vae", VAEConfig(latent_dim=4), epochs=1,
              progress=False)
    encoder = load_checkpoint(tmp_path / "vae")
    before = encoder.vae.to_mean.weight.detach().clone()
    cfg = rig_config("rig", env_steps=100, random_steps=100, vae_finetune_every=1, eval_episodes=1,
                     td3={"hidden": [16, 16]})
    view, mean, std = make_view("latent", encoder)
    trainer = RIGTrainer(cfg, tmp_path / "run", view, mean, std, progress=False,
                         env_options={"max_episode_steps": 50})
    trainer.train()
    assert not torch.equal(before, encoder.vae.to_mean.weight)
    buf = trainer.buffer
    images = buf.data["image"][: buf.stored].reshape(-1, 48, 48, 3)
    np.testing.assert_allclose(buf.data["obs"][: buf.stored].reshape(len(images), -1), encoder.encode(images),
                               atol=1e-5)
    assert buf.goal_prior is encoder.prior and view.prior is encoder.prior
    assert load_checkpoint(tmp_path / "run" / "vae").latent_dim == 4  # the fine-tuned encoder is saved with it
