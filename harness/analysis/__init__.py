"""After the jobs: output checks, speed ratios, statistics, phases, roofline, machine facts."""
