"""What runs beside the arm, with no learning and no ROS in it: the safety gate, robot episodes (the episode
manager), one latent control step, and policy actions as velocity commands. The nodes are thin adapters over these."""
