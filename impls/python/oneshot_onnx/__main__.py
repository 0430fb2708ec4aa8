"""`python -m oneshot_onnx ...`: takes the start time first, then hands over to `cli.main`."""

import time

STARTED = time.perf_counter()

import sys  # noqa: E402

from oneshot_onnx.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], started=STARTED))
