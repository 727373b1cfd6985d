"""Example DSPy programs for the bundled tasks: one ``dspy.Module`` per file.

Each module exposes ``FIELDS``, mapping the split-dir keys (``input``, ``expected_output``) to the
program's field names, so ``skillopt_dspy.data.load_split_dir(..., fields=FIELDS)`` builds examples the
program and its metric understand.
"""
