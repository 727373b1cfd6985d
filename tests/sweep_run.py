"""Sweeps in their own processes, for the tests that kill one or run two at once.

``python -m tests.sweep_run STORAGE LOG_DIR N_TRIALS KILL_AT``: a sweep over ``learning_rate`` on the toy task
of :mod:`tests.fakes`; with KILL_AT > 0 the process kills itself with SIGKILL at the target LM's KILL_AT-th
call (in the middle of a step). Prints the best parameters as JSON. ``target`` and ``reflector`` are LM
factories for ``skillopt-dspy sweep --lm tests.sweep_run:target`` with a ``latency`` (``model.lm_kwargs``),
so that two workers' trials overlap in time.
"""

import json
import os
import signal
import sys
import threading

import dspy
import optuna

from skillopt_dspy.sweep import sweep
from tests.cli_fakes import _reflect, _target
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())
STUDY = "killed"
GRACE_S = 2  # seconds without a heartbeat before a trial counts as dead


def target(latency: float = 0.0) -> dspy.LM:
    return fake_lm(_target, latency=latency, name="fake/target")


def reflector(latency: float = 0.0) -> dspy.LM:
    return fake_lm(_reflect, latency=latency, name="fake/reflect")


def main() -> None:
    storage, log_dir, n_trials, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    lock = threading.Lock()
    calls = {"target": 0}

    def killing(call):
        with lock:
            calls["target"] += 1
            if calls["target"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return target_handler(call)

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    result = sweep(
        WordGroup(),
        TRAIN,
        VAL,
        group_metric,
        n_trials=n_trials,
        storage=storage,
        study_name=STUDY,
        search_space={"learning_rate": [1, 2, 3, 4]},
        pruner=optuna.pruners.NopPruner(),
        lm=fake_lm(killing, latency=0.01, name="fake/target"),
        reflection_lm=fake_lm(rule_reflector(), name="fake/reflect"),
        heartbeat_interval=1,
        grace_period=GRACE_S,
        batch_size=6,
        epochs=1,
        use_slow_update=False,
        use_meta_skill=False,
        gate_test="strict",  # call counts per step as the kill test plans them
        batch_check=False,
        num_threads=1,
        log_dir=log_dir,
    )
    print(json.dumps({"best_params": result.best_params, "best_value": result.best_value}))


if __name__ == "__main__":
    main()
