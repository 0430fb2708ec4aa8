"""oneshot-bench: the JAX implementation of the Koch et al. (2015) siamese network (python-jax).

Run as a program through protocol v1 (docs/protocol.md): `python -m oneshot_jax run JOB.json`
or `python -m oneshot_jax version`. Everything but the network is oneshot_common's, shared with
python-torch; this package holds the network as plain jax functions (model.py), one jitted
training step with a hand-written optimiser (optim.py), the weights file through numpy
(weights.py), the thread settings of XLA's CPU client (threads.py) and the network tasks.
Importing the package is cheap: jax is imported only by the network tasks, after threads.py
has set XLA's environment from the job.
"""

__version__ = "0.1.0"
