"""oneshot-bench: the PyTorch implementation of the Koch et al. (2015) siamese network.

Run as a program through protocol v1 (docs/protocol.md): `python -m oneshot_torch run JOB.json`
or `python -m oneshot_torch version`. Importing the package is cheap: torch, numpy and Pillow
are imported only by the modules and tasks that need them.
"""

__version__ = "0.1.0"
