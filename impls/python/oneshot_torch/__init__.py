"""oneshot-bench: the PyTorch implementation of the Koch et al. (2015) siamese network."""
