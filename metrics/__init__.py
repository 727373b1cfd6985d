"""Metrics for the bundled tasks: ``metric(example, prediction, trace=None) -> dspy.Prediction(score, feedback)``.

Each reads the gold and the answer under the field names in its program's ``FIELDS`` (falling back
to the split-dir names ``expected_output``), never raises on a missing or malformed answer (it scores
0 and the feedback says why), and says precisely what was wrong and what was expected.
"""
