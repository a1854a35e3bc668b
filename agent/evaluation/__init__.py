"""Evaluation: metrics, the batch harness, reports and run comparison."""
