"""A training run for the crash/resume test, run as a subprocess: ``python -m tests.resume_run LOG_DIR CALLS KILL_AT``.

Every LM call appends one line to CALLS. With KILL_AT > 0 the process kills itself with SIGKILL when the
target LM receives its KILL_AT-th call, i.e. in the middle of a step. Prints the final skill as JSON.
"""

import json
import os
import signal
import sys
import threading

import dspy

from skillopt_dspy import SkillOpt
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())


def main() -> None:
    log_dir, calls_path, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lock = threading.Lock()
    counter = {"target": 0}

    def logged(role, handler):
        def h(call):
            with lock:
                with open(calls_path, "a") as f:
                    f.write(
                        json.dumps({"role": role, "inputs": call.inputs, "skill": call.skill}, sort_keys=True) + "\n"
                    )
                if role == "target":
                    counter["target"] += 1
                    if counter["target"] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
            return handler(call)

        return h

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    target = fake_lm(logged("target", target_handler), name="fake/target")
    reflection = fake_lm(logged("reflection", rule_reflector(harmful_once=True)), name="fake/reflect")
    with dspy.context(lm=target):
        opt = SkillOpt(
            metric=group_metric,
            reflection_lm=reflection,
            batch_size=6,
            minibatch_size=3,
            epochs=2,
            learning_rate=3,
            num_threads=1,
            slow_update_samples=4,
            log_dir=log_dir,
            progress=False,
        )
        compiled = opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)
    print(json.dumps({"skill": compiled.skill, "stop_reason": compiled.detailed_results.stop_reason}))


if __name__ == "__main__":
    main()
