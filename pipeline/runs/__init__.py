"""Runs: launching through the Metaflow Runner, reading runs back, MLflow tracking.

Step `monitor_and_log`; commands `run`, `runs`, `inspect`, `resume`."""
