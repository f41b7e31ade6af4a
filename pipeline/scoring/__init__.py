"""Scores: metrics, the paired bootstrap, DeltaOne and the gate, contributor attribution.

Steps `evaluate_on_benchmark` and `compare_and_output_delta`."""
