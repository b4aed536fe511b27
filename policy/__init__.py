"""Learning goal-conditioned policies; no ROS. Three parts, by role:

- ``agents/``: one file per agent, named as in its paper (TD3 in RIG, SAC, RIS, HIQL), the networks they share
  and the one registry of agent names;
- ``training/``: the trainers (RIG's online loop, offline HIQL, learning on the robot, twin-to-robot transfer),
  hindsight replay with its goal mix, evaluation in the twin, resumable state and learning curves;
- ``weights/``: the deployable policy folder, the versioned weight store a robot learns into, and live swaps.
"""
