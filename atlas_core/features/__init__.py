"""AI-ready feature sets: the spec (spec.py), point-in-time SQL (point_in_time.py), train-fitted
transforms (transforms.py), deterministic splits and version hashes (splits.py)."""
