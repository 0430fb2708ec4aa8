"""oneshot_onnx: the ONNX export of python-torch's tower under an inference engine
(python-onnxruntime, python-openvino; docs/protocol.md, "The ONNX export").

`python -m oneshot_onnx --engine onnxruntime|openvino run JOB.json | check JOB... | version`.
The loops, job reading, files and metrics are oneshot_common's; this package adds the engines
(engines.py), the network they make with a numpy head (network.py), the network input
(pixels.py) and the task table (tasks.py: `forward`, `evaluate`, `serve`; it never trains).
Neither engine imports torch.
"""

__version__ = "0.1.0"
