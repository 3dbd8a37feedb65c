"""What every background job shares: the one-job-at-a-time lock, starting and stopping jobs,
recording an outcome, job ids, and a job's state read back from its catalog row.

Each kind of job decides its whole life in one module of its own domain:
`server/backup/job.py` (a backup), `server/restore/job.py` (a restore) and
`server/recovery.py` (jobs that a dead process left behind, at the next start).
"""
