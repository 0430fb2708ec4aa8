"""`harness publish`: the answer (README's headline, docs/results.md's answer by CPU, a static
site) generated from the results archive alone (docs/reports.md, "Publishing")."""
