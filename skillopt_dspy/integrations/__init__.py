"""Optional trackers as :class:`~skillopt_dspy.SkillOptCallback` objects; each imports its library lazily.

Example:
    >>> from skillopt_dspy.integrations.mlflow import MLflowCallback  # doctest: +SKIP
    >>> tracker = MLflowCallback(tracking_uri="sqlite:///mlflow.db")  # doctest: +SKIP
    >>> SkillOpt(metric=m, log_dir="runs/x", callbacks=[tracker])  # doctest: +SKIP
"""
