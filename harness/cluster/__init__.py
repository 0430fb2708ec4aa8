"""Runs across machines: one config on a fleet of benchmark nodes through a Ray cluster.

`python -m harness run CONFIG --cluster ADDRESS` (driver.py) connects to a running Ray cluster
whose benchmark nodes declare the custom resource `oneshot-bench-node` (one each), and runs
every unit of work as a Ray task that holds that resource, so a node runs one benchmark at a
time: a sweep's points, or the whole run (once, or with `--per-node` once on every node). On
the node (node.py) the task runs the ordinary local runner into a temporary folder and returns
the folder and the node's facts; the driver writes them where a local run would and builds
the document with harness/run/sweep.py. docs/cluster.md says how to start a cluster.
"""
