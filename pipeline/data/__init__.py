"""Data in: contributed files, project tables, PII and the run's inputs.

Steps `start` and `integrate_contributed_data`."""
