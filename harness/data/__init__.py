"""Data sets for the benchmark: the synthetic Omniglot-layout generator and the Omniglot fetcher.

`harness.data.synthetic.write_synthetic` and `harness.data.omniglot.fetch_omniglot` back the
`python -m harness data synthetic|omniglot` commands; docs/data.md describes both.
"""
