"""Trained weights: the deployable policy folder (checkpoint), the versioned weight store a robot learns into,
and the live swap of weights in a running node. Everything loaded here is verified first."""
