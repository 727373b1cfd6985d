"""Example DSPy programs for the bundled tasks (one ``dspy.Module`` per file, with its ``FIELDS`` mapping)."""
