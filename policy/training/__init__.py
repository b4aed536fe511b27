"""Training: RIG's online loop (``rig``) and offline HIQL (``offline``) on the run skeleton they share (``run``),
learning on the robot (``online_learner``), hindsight replay and its goal mix, evaluation in the twin, resumable
training state and learning curves."""
