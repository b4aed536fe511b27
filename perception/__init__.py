"""Perception: camera sources, image preprocessing and the beta-VAE that turns images into latents. No ROS here."""
