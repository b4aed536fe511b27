"""The MuJoCo twin: table-top arm scenes behind the Gymnasium-Robotics goal API. No ROS here.

Importing this package registers the tasks::

    import gymnasium as gym, rigbot.sim
    env = gym.make("rigbot/Reach-v0", image_size=84)
"""
import gymnasium as gym

from rigbot.sim.rendering import RenderingUnavailable, select_gl_backend  # noqa: F401  (chooses EGL/OSMesa first)

TASKS = {
    "reach": ("rigbot/Reach-v0", "rigbot.sim.reach:ReachEnv", 50),
    "push": ("rigbot/Push-v0", "rigbot.sim.push:PushEnv", 100),
}

for _name, (_id, _entry, _steps) in TASKS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, max_episode_steps=_steps)


def make(task: str, **kwargs) -> gym.Env:
    """The registered environment for ``task`` ('reach' or 'push'), with its time limit.

    The time limit follows the task config's ``max_episode_steps`` (from ``config=`` or an override).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    from rigbot.sim.goal_env import task_config

    env_id, entry, _ = TASKS[task]
    env_class = gym.envs.registration.load_env_creator(entry)
    passed = {k: kwargs.pop(k) for k in ("robot", "render_mode") if k in kwargs}
    cfg = task_config(env_class.config_class, kwargs.pop("config", None), kwargs)
    return gym.make(env_id, max_episode_steps=cfg.max_episode_steps, config=cfg, **passed)
