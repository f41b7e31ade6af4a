"""Models: estimators, byte-stable skops files, the baseline and the candidate.

Steps `load_baseline_model` and `train_new_model`."""
