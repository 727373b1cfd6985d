"""skillopt-dspy: SkillOpt for DSPy — train a Markdown skill as the weights of a frozen LLM program.

Example:
    >>> from skillopt_dspy import SkillOpt
    >>> optimizer = SkillOpt(metric=lambda example, prediction, trace=None: 1.0)
"""

from skillopt_dspy.budget import Budget, Usage
from skillopt_dspy.edits import ApplyReport, ApplyResult, Edit, Patch, apply_edits
from skillopt_dspy.events import SkillOptCallback
from skillopt_dspy.optimizer import SkillOpt
from skillopt_dspy.results import EpochRecord, SkillOptResult, StepRecord
from skillopt_dspy.scoring import MetricError, Score, gate_value, normalize_score
from skillopt_dspy.skill import apply_skill, extract_skill, read_region, write_region
from skillopt_dspy.stages.gate import GateDecision
from skillopt_dspy.stages.rollout import TooManyErrorsError, Trajectory
from skillopt_dspy.state import IncompatibleRunError, RunDirBusyError, RunDirWriteError
from skillopt_dspy.sweep import SweepResult, sweep

__version__ = "0.1.0"

__all__ = [
    "ApplyReport",
    "ApplyResult",
    "Budget",
    "Edit",
    "EpochRecord",
    "GateDecision",
    "IncompatibleRunError",
    "MetricError",
    "Patch",
    "RunDirBusyError",
    "RunDirWriteError",
    "Score",
    "SkillOpt",
    "SkillOptCallback",
    "SkillOptResult",
    "StepRecord",
    "SweepResult",
    "TooManyErrorsError",
    "Trajectory",
    "Usage",
    "apply_edits",
    "apply_skill",
    "extract_skill",
    "gate_value",
    "normalize_score",
    "read_region",
    "sweep",
    "write_region",
]
