"""Metrics for the bundled tasks: ``metric(example, prediction, trace=None) -> dspy.Prediction(score, feedback)``."""
