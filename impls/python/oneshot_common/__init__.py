"""oneshot-bench: what the Python implementations share, everything but the network.

python-torch (oneshot_torch) and python-jax (oneshot_jax) are two programs of protocol v1
(docs/protocol.md) built on this package: the job parser and its params, events, result.json,
the command line and task dispatch, the shared generator, sampling, image decoding, the
distortions, one-shot trials and scoring, the MHD baseline, network shapes and FLOP counts, the
optimiser schedule. Nothing here imports torch or jax; numpy and Pillow are imported only by
the modules that need them.
"""
