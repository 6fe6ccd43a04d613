"""Evaluations on held-out real data: judge calibration and the offline stand-in for the online metric."""
