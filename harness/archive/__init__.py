"""The results archive (`results/archive/<machine-id>/<run-id>.json.gz`, docs/reports.md).

record.py holds the models of an archived record, machine_id.py the machine's id, write.py
`harness archive RUN` (a run's results.json to a record) and `read_archive` (every record, for
`harness publish`).
"""
