"""The other agents of the seed papers (SAC, RIS, HIQL): their pieces, their checkpoints, and that each one learns.

The learning tests use the state observation (the oracle view): a latent run needs a VAE first, and the suite's
latent run is RIG's (test_training.py). Every learning test evaluates on the same 20 rendered goals (fixed seeds)
as the random policy, and must end with a mean final hand distance below half the random policy's and a success
rate at least 50 points above it. Chance cannot pass this: a random policy's final position does not depend on
the goal, and the disc within 5 cm of any one point covers under 8 % of the 26 x 32 cm goal region, so a policy
that ignores the goal succeeds on 11 or more of 20 goals with probability below 1e-7.
The bounds leave room for the seed: SAC and RIS on seeds 1-3 (2026-12-04) ended at 0.12-0.19 and 0.04-0.07 of the
random policy's mean distance, with 85-100 % and 100 % success against the random policy's 10 %.
"""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from rigbot.policy.weights.checkpoint import load_policy, save_policy
from rigbot.policy.agents.hiql import HIQL, HIQLConfig, awr_weights, expectile_loss
from rigbot.policy.training.offline import OfflineDataset, ValueGoalConfig
from rigbot.policy.training.replay_buffer import HindsightReplayBuffer, RelabelConfig
from rigbot.policy.agents.ris import RIS, RISConfig, subgoal_advantage_weights
from rigbot.policy.agents.sac import SAC, SACConfig


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the trainers do: two spinning OpenMP threads crawl on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- pieces ----------------------------------------------------------------------------------------------------
def test_expectile_loss_weighs_underestimates_by_tau_and_fits_an_upper_expectile():
    diff = torch.tensor([1.0, -1.0])
    assert expectile_loss(diff, 0.7).item() == pytest.approx((0.7 + 0.3) / 2)
    assert expectile_loss(torch.tensor([2.0]), 0.9).item() == pytest.approx(0.9 * 4)
    # minimising it over a constant gives the 0.7-expectile: tau * E[(x - v)+] = (1 - tau) * E[(v - x)+]
    x = torch.tensor(np.random.default_rng(0).exponential(1.0, 2000), dtype=torch.float32)
    v = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([v], lr=0.05)
    for _ in range(800):
        opt.zero_grad()
        expectile_loss(x - v, 0.7).backward()
        opt.step()
    v = v.item()
    balance = 0.7 * (x - v).clamp(min=0).mean() - 0.3 * (v - x).clamp(min=0).mean()
    assert abs(balance.item()) < 2e-3
    assert v > x.mean().item() + 0.2  # above the mean: the optimistic fit HIQL's value relies on


def test_awr_weights_grow_exponentially_with_the_advantage_and_are_clipped():
    adv = torch.tensor([-1.0, 0.0, 0.5, 10.0])
    w = awr_weights(adv, beta=3.0, max_weight=100.0)
    np.testing.assert_allclose(w[:3].numpy(), np.exp(3.0 * adv[:3].numpy()), rtol=1e-6)
    assert w[3].item() == 100.0


def test_subgoal_weights_prefer_cheaper_candidates_than_the_proposal():
    cost = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w = subgoal_advantage_weights(cost, baseline_cost=torch.full((4,), 2.5), temperature=0.5)
    assert torch.all(w[:-1] > w[1:]) and w.mean().item() == pytest.approx(1.0)
    flat = subgoal_advantage_weights(cost, torch.full((4,), 2.5), temperature=1e4)
    np.testing.assert_allclose(flat.numpy(), 1.0, atol=1e-3)  # a high temperature weighs all alike


def test_ris_high_level_policy_learns_to_propose_halfway_subgoals():
    """With the value a true distance (V = -||s - g||), the cost max(|V(s, c)|, |V(c, g)|) is least at the midpoint
    of s and g; AWR on random candidates must move pi_H's mean there, far closer than s itself or the centre."""
    torch.manual_seed(0)
    agent = RIS(RISConfig(hidden=[64, 64], subgoal_lr=1e-3), 2, 2, 2)
    agent.value = lambda obs, goal: -torch.linalg.norm(obs - goal, dim=-1)  # a perfect distance, to isolate pi_H
    gen = torch.Generator().manual_seed(0)
    for _ in range(800):
        s, g, candidates = (torch.rand(256, 2, generator=gen) for _ in range(3))
        agent._subgoal_step(s, g, agent._inputs(s, g), candidates)
    s, g = torch.rand(1000, 2, generator=gen), torch.rand(1000, 2, generator=gen)
    mid = (s + g) / 2
    proposed = torch.as_tensor(agent.propose_subgoal(s.numpy(), g.numpy()))
    error = torch.linalg.norm(proposed - mid, dim=-1).mean().item()
    naive = torch.linalg.norm(s - mid, dim=-1).mean().item()  # proposing the state itself: about 0.26
    assert error < 0.1 and error < 0.4 * naive
    assert error < 0.4 * torch.linalg.norm(0.5 - mid, dim=-1).mean().item()  # or the centre of the square


def test_ris_needs_to_know_which_state_entries_are_the_goal():
    with pytest.raises(ValueError, match="goal_index"):
        RIS(RISConfig(hidden=[8]), 7, 2, 2)
    with pytest.raises(ValueError, match="must name 2 of the 7"):
        RIS(RISConfig(hidden=[8]), 7, 2, 2, goal_index=np.array([0, 9]))
    agent = RIS(RISConfig(hidden=[8]), 7, 2, 2, goal_index=np.array([0, 1]))
    assert torch.equal(agent.as_goal(torch.arange(7.0)), torch.tensor([0.0, 1.0]))


def test_sac_entropy_tuning_raises_alpha_when_entropy_is_low_and_lowers_it_when_high():
    agent = SAC(SACConfig(hidden=[8], alpha_lr=0.05, initial_alpha=0.1), 2, 2, 2)
    assert agent.target_entropy == -2.0  # -action_dim
    for _ in range(20):
        agent.entropy_tuning_step(torch.full((64,), 5.0))  # log pi = 5: entropy -5, below the target
    assert agent.alpha > 0.2
    high = agent.alpha
    for _ in range(40):
        agent.entropy_tuning_step(torch.full((64,), -5.0))  # entropy 5, above the target
    assert agent.alpha < high / 2


def test_sac_actions_are_bounded_and_the_log_density_is_that_of_a_squashed_gaussian():
    torch.manual_seed(0)
    agent = SAC(SACConfig(hidden=[16]), 3, 3, 2)
    x = torch.randn(5000, 6)
    a, logp = agent.actor.sample(x)
    assert a.abs().max() < 1.0 and torch.isfinite(logp).all()
    np.testing.assert_allclose(agent.actor.log_prob(x[:50], a[:50]).detach(), logp[:50].detach(), atol=2e-3)
    mode = agent.act(np.zeros(3), np.zeros(3))
    assert mode.shape == (2,) and np.all(np.abs(mode) <= 1)
    # a 1-D check of the density itself: it integrates to 1 over (-1, 1)
    mean, log_std = torch.tensor([[0.3]]), torch.tensor([[-0.5]])
    grid = torch.linspace(-0.9999, 0.9999, 20001)[:, None]
    from rigbot.policy.agents.sac import squashed_log_prob
    density = squashed_log_prob(mean, log_std, torch.atanh(grid)).exp()
    assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=1e-3)


def test_squared_distance_reward_is_a_relabelling_option():
    buf = HindsightReplayBuffer(100, 4, 2, 2, 1, RelabelConfig(rollout=0.5, prior=0.0, future=0.5,
                                                               reward="squared_goal_distance"))
    achieved = np.stack([np.arange(5.0), np.zeros(5)], 1)
    buf.add_episode({"obs": achieved, "achieved": achieved, "action": np.zeros((4, 1)), "goal": np.array([9.0, 3.0])})
    b = {k: v.numpy() for k, v in buf.sample(500, np.random.default_rng(0)).items()}
    np.testing.assert_allclose(b["reward"], -np.sum((b["next_obs"] - b["goal"]) ** 2, 1), rtol=1e-6)


def _frames(episodes=3, steps=6, velocity=(0.1, -0.05), hz=10.0):
    """Synthetic recorded frames: the hand moves at a known velocity; episodes listed out of order."""
    rows = []
    for e in reversed(range(episodes)):
        for t in range(steps + 1):
            hand = np.array([0.3 + velocity[0] * t / hz, 0.0 + velocity[1] * t / hz, 0.06]) + 0.01 * e
            rows.append((e, t, hand))
    obs = np.array([np.r_[h, 0.0, 0.0] for _, _, h in rows])
    return {"episodes": np.array([r[0] for r in rows]), "steps": np.array([r[1] for r in rows]),
            "observations": obs, "achieved_goals": obs[:, :2].copy()}


def test_offline_dataset_derives_actions_from_hand_motion_and_keeps_episodes_apart():
    frames = _frames()
    data = OfflineDataset.from_frames(frames, frames["observations"], frames["achieved_goals"], [0, 1],
                                      max_speed=0.2, control_hz=10.0)
    assert data.transitions == 3 * 6  # no transition across an episode boundary
    np.testing.assert_allclose(data.action[data.starts], np.tile([0.5, -0.25], (18, 1)), atol=1e-9)
    assert np.all(data.end[data.starts] - data.starts <= 6)
    fast = _frames(velocity=(0.5, 0.0))  # faster than the speed limit: clipped to the action range
    data_fast = OfflineDataset.from_frames(fast, fast["observations"], fast["achieved_goals"], [0, 1], 0.2, 10.0)
    assert data_fast.action[data_fast.starts, 0].max() == 1.0


def test_offline_goal_sampling_follows_the_fractions_and_rewards_only_the_state_itself():
    frames = _frames(episodes=20, steps=10)
    # a goal vector that names its frame: (episode, step)
    tag = np.stack([frames["episodes"], frames["steps"]], 1).astype(float)
    data = OfflineDataset.from_frames(frames, tag, tag, [0, 1], 0.2, 10.0)
    b = {k: v.numpy() for k, v in data.sample(20000, ValueGoalConfig(0.2, 0.5, 0.3), 0.9, 3,
                                               np.random.default_rng(0)).items()}
    own = b["value_goal"] == b["obs"]
    same_episode = b["value_goal"][:, 0] == b["obs"][:, 0]
    assert np.all(b["reward"][own.all(1)] == 0) and np.all(b["reward"][~own.all(1)] == -1)
    np.testing.assert_array_equal(b["mask"], -b["reward"])  # the value's episode ends at its goal
    assert abs(own.all(1).mean() - 0.2) < 0.03  # current (random goals hit the state itself only rarely)
    later = same_episode & (b["value_goal"][:, 1] > b["obs"][:, 1])
    assert abs(later.mean() - 0.5) < 0.03
    # policy goals: later states of the same episode; subgoals k = 3 steps ahead or the episode's end
    assert np.all(b["goal"][:, 0] == b["obs"][:, 0]) and np.all(b["goal"][:, 1] > b["obs"][:, 1])
    np.testing.assert_array_equal(b["subgoal"][:, 1], np.minimum(b["obs"][:, 1] + 3, 10))
    np.testing.assert_array_equal(b["next_obs"][:, 1], b["obs"][:, 1] + 1)


@pytest.mark.parametrize("kind", ["sac", "ris", "hiql"])
def test_every_agent_round_trips_through_a_policy_folder(tmp_path, kind):
    from rigbot import config

    cls, cfg = {"sac": (SAC, SACConfig(hidden=[16])), "ris": (RIS, RISConfig(hidden=[16])),
                "hiql": (HIQL, HIQLConfig(hidden=[16]))}[kind]
    torch.manual_seed(1)
    # not [0, 1], the placeholder load_agent builds before reading the weights: only restoring it passes
    kwargs = {"goal_index": np.array([3, 5])} if kind == "ris" else {}
    agent = cls(cfg, 7, 2, 2, np.arange(9.0), np.ones(9), **kwargs)
    meta = {"task": "reach", "observation": "state", "obs_dim": 7, "goal_dim": 2, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48, "learner": kind,
            kind: config.to_dict(cfg)}
    save_policy(tmp_path, agent, meta)
    policy = load_policy(tmp_path)
    assert type(policy.agent) is cls
    z, g = np.linspace(0, 1, 7), np.array([0.4, -0.1])
    np.testing.assert_allclose(policy.act(z, g), agent.act(z, g) * 0.2, rtol=1e-6)
    assert np.all(np.abs(policy.act(z, g)) <= 0.2)
    if kind == "ris":  # acting never reads goal_index (subgoals are for training): check the goals a state is
        np.testing.assert_array_equal(policy.agent.goal_index.numpy(), [3, 5])
        np.testing.assert_array_equal(policy.agent.as_goal(torch.as_tensor(z)).numpy(), z[[3, 5]])
    with pytest.raises(ValueError, match="NaN"):
        policy.act(np.full(7, np.nan), g)
    # a policy.yaml that names another learner than the weights were saved as is refused, naming both
    meta_yaml = yaml.safe_load((tmp_path / "policy.yaml").read_text())
    other = "sac" if kind != "sac" else "hiql"
    meta_yaml["learner"], meta_yaml[other] = other, config.to_dict({"sac": SACConfig, "hiql": HIQLConfig}[other](
        hidden=[16]))
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(meta_yaml))
    with pytest.raises(ValueError, match="was saved with config"):
        load_policy(tmp_path)


# ---- devices: the code a GPU runs, exercised on the CPU (the suite runs on the CPU) ----------------------------------
def test_device_auto_is_the_gpu_only_when_torch_sees_one_and_cuda_without_one_is_refused(monkeypatch):
    from rigbot.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device cuda: torch sees no CUDA GPU \(torch .*built for"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")


@pytest.mark.parametrize("learner", ["td3", "sac", "ris", "hiql"])
def test_an_agent_on_an_explicit_cpu_device_learns_bit_for_bit_as_one_built_without_a_device(learner):
    """``make_agent(device=)`` is the path a GPU takes (built on the CPU, moved, batches moved in ``update``); on
    the CPU it must change nothing: the same weights after the same seeded updates, no copies of the batch."""
    from rigbot.devices import resolve_device
    from rigbot.policy.agents import LEARNERS, make_agent

    rng = np.random.default_rng(0)
    batches = [{k: torch.from_numpy(rng.standard_normal((16, 3 if k == "action" else 4)).astype(np.float32)
                                    .clip(-0.9, 0.9)) for k in ("obs", "next_obs", "goal", "action", "value_goal",
                                                                "subgoal", "subgoal_obs")} for _ in range(3)]
    for b in batches:
        b["reward"], b["mask"] = -b["obs"].norm(dim=-1), torch.ones(16)
    agents = []
    for device in (None, resolve_device("cpu"), resolve_device("auto") if not torch.cuda.is_available() else None):
        torch.manual_seed(0)
        agent = make_agent(learner, LEARNERS[learner].config(hidden=[16], batch_size=16), 4, 4, 3,
                           np.full(8, 0.1), np.full(8, 2.0), goal_index=np.arange(4), device=device)
        assert agent.device == torch.device("cpu")
        moved = agent._on_device(batches[0])
        assert all(moved[k] is batches[0][k] for k in moved)  # on the CPU the batch itself, not a copy
        for b in batches:
            agent.update(b)
        agents.append(agent)
    reference = agents[0].state_dict()
    for agent in agents[1:]:
        for k, v in agent.state_dict().items():
            assert torch.equal(v, reference[k]), k
        for opt in agent._optimizers().values():  # the optimisers' state was made where the parameters are
            assert all(t.device.type == "cpu" for st in opt.state.values() for t in st.values())
    obs, goal = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    for acts in (agents[1].act(obs, goal), agents[1].explore(obs, goal, np.random.default_rng(1))):
        assert isinstance(acts, np.ndarray) and acts.shape == (5, 3) and np.all(np.abs(acts) <= 1.0)
    np.testing.assert_array_equal(agents[1].act(obs, goal), agents[0].act(obs, goal))


def test_a_policy_folder_loads_onto_the_cpu_by_name_and_refuses_cuda_without_a_gpu(tmp_path):
    from rigbot import config

    cfg = SACConfig(hidden=[16])
    torch.manual_seed(1)
    agent = SAC(cfg, 7, 2, 2, np.arange(9.0), np.ones(9))
    meta = {"task": "reach", "observation": "state", "obs_dim": 7, "goal_dim": 2, "action_dim": 2,
            "max_linear_speed": 0.2, "control_hz": 10.0, "image_size": 48, "learner": "sac",
            "sac": config.to_dict(cfg)}
    save_policy(tmp_path, agent, meta)
    z, g = np.linspace(0, 1, 7), np.array([0.4, -0.1])
    for device in ("cpu", "auto") if not torch.cuda.is_available() else ("cpu",):
        policy = load_policy(tmp_path, device=device)
        assert policy.device == torch.device("cpu")
        np.testing.assert_array_equal(policy.act(z, g), load_policy(tmp_path).act(z, g))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device cuda: torch sees no CUDA GPU"):
            load_policy(tmp_path, device="cuda")


# ---- learning ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reach_frames(tmp_path_factory):
    """Random exploration of reach (the oracle's statistics and goal prior; HIQL's data)."""
    from rigbot.perception.collect import collect

    out = tmp_path_factory.mktemp("reach_frames")
    collect("reach", 2000, out, seed=0, progress=False)
    return out


def _assert_learned(curve: dict):
    final, rnd = curve["curve"][-1], curve["random_policy"]
    assert final["hand_distance_mean"] < 0.5 * rnd["hand_distance_mean"], (final, rnd)
    assert final["success_rate"] >= rnd["success_rate"] + 0.5, (final, rnd)


@pytest.mark.parametrize("agent,learner_cfg", [
    # squared distances in metres are ~0.01: scaled up so that rewards are not lost beside the entropy bonus
    ("sac", {"hidden": [64, 64], "reward_scale": 100.0}),
    ("ris", {"hidden": [64, 64], "reward_scale": 10.0}),
])
def test_online_agent_learns_to_reach(reach_frames, tmp_path, agent, learner_cfg):
    """1,200 environment steps on the oracle view, one update per step, then the 20 fixed evaluation goals
    (the margin and why chance cannot meet it: module docstring). The policy folder is the deployable one."""
    from rigbot.perception.frame_dataset import load_frames
    from rigbot.policy.training.observations import make_view
    from rigbot.policy.training.rig import RIGTrainer, rig_config

    cfg = rig_config(agent, observation="state", env_steps=1200, random_steps=300, updates_per_step=1,
                     eval_every=1200, eval_episodes=20, checkpoint_every=1200, **{agent: learner_cfg})
    view, mean, std = make_view("state", None, load_frames(reach_frames))
    trainer = RIGTrainer(cfg, tmp_path, view, mean, std, seed=0, progress=False)
    trainer.train()
    _assert_learned(json.loads((tmp_path / "curve.json").read_text()))
    policy = load_policy(tmp_path)
    assert policy.meta["learner"] == agent
    z, g = np.zeros(view.obs_dim, np.float32), np.array([0.4, 0.1], np.float32)
    np.testing.assert_allclose(policy.act(z, g), trainer.act(z, g), rtol=1e-5)


def test_hiql_learns_offline_from_a_collected_dataset_through_the_cli(reach_frames, tmp_path):
    """``rigbot train --agent hiql --data``: 800 updates on 2,000 frames of random exploration, no interaction;
    then the 20 fixed evaluation goals in the twin (margin: module docstring); then ``rigbot eval`` loads it."""
    cfg = tmp_path / "hiql.yaml"
    cfg.write_text(yaml.safe_dump({"observation": "state", "eval_every": 800, "eval_episodes": 20,
                                   "checkpoint_every": 400, "hiql": {"hidden": [64, 64]}}))
    out = tmp_path / "hiql"
    cmd = [sys.executable, "-m", "rigbot.cli", "train", "--agent", "hiql", "--data", str(reach_frames), "--out",
           str(out), "--updates", "800", "--config", str(cfg), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "recorded transitions" in r.stdout
    _assert_learned(json.loads((out / "curve.json").read_text()))
    assert load_policy(out).meta["learner"] == "hiql"
    # a second run never overwrites it; --resume continues from the last checkpoint
    r = subprocess.run(cmd[:-5] + ["--updates", "850", *cmd[-3:]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--resume" in r.stderr
    r = subprocess.run(cmd[:-5] + ["--updates", "850", *cmd[-3:], "--resume"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "resuming hiql at update 800" in r.stdout, r.stderr
    assert [row["updates"] for row in json.loads((out / "curve.json").read_text())["curve"]] == [0, 800, 850]
    r = subprocess.run([sys.executable, "-m", "rigbot.cli", "eval", "--checkpoint", str(out), "--episodes", "2",
                        "--gif-episodes", "0"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "random policy" in r.stdout, r.stderr
    # without data it says what it needs; with another task's data it says whose
    r = subprocess.run(cmd[:6] + ["--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--data DIR" in r.stderr
    r = subprocess.run([*cmd[:6], "--task", "push", "--data", str(reach_frames), "--out", str(tmp_path / "y")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "task 'reach'" in r.stderr
