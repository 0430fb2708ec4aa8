"""Run an experiment: config, data set, builds, shared inputs, one job at a time, post-run."""
