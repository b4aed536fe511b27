"""Training: RIG's online loop, offline (HIQL) training, learning on the robot, hindsight replay and relabelling,
evaluation in the twin, resumable training state and learning curves."""
