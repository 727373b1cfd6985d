"""A training run for the crash/resume tests, run as a subprocess: ``python -m tests.resume_run LOG_DIR CALLS KILL
[nocarry]`` (``nocarry``: ``carry_ahead=False``).

Every LM call appends one line to CALLS (its kind, inputs and skill). KILL is ``0`` (run to the end), a number
N (SIGKILL at the N-th target call, as before), or ``KIND:N``: SIGKILL when the N-th call of that kind
arrives, before it is answered. Kinds: ``rollout`` (a target call on a training word), ``validation`` (on a
validation word), ``reflect``, ``aggregate``, ``slow_update``, ``meta_skill``. Prints the final skill as JSON.
"""

import json
import os
import signal
import sys
import threading
from collections import Counter

import dspy

from skillopt_dspy import SkillOpt
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN_WORDS = "apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split()
VAL_WORDS = "axe bee cup inn jam key quiz rope star".split()
TRAIN = word_examples(TRAIN_WORDS)
VAL = word_examples(VAL_WORDS)


def kind_of(role: str, call) -> str:
    if role == "target":
        return "validation" if call.inputs.get("word") in VAL_WORDS else "rollout"
    if "guidance" in call.outputs:
        return "slow_update"
    if "notes" in call.outputs:
        return "meta_skill"
    return "aggregate" if "proposals" in call.inputs else "reflect"


def optimizer(reflection, *, carry_ahead: bool = True, log_dir: str | None = None) -> SkillOpt:
    """The run's optimizer: each of epoch 1's candidates is ahead on 3 of the 9 validation words, short of
    significance alone (tests/test_trainer.py runs it in process to show carrying)."""
    return SkillOpt(
        metric=group_metric,
        reflection_lm=reflection,
        batch_size=6,
        minibatch_size=3,
        epochs=2,
        learning_rate=3,
        num_threads=1,
        slow_update_samples=4,
        carry_ahead=carry_ahead,
        log_dir=log_dir,
        progress=False,
    )


def parse_kill(spec: str) -> tuple[str, int]:
    if ":" in spec:
        kind, n = spec.split(":")
        return kind, int(n)
    return "target", int(spec)


def main() -> None:
    log_dir, calls_path = sys.argv[1], sys.argv[2]
    kill_kind, kill_at = parse_kill(sys.argv[3])
    lock = threading.Lock()
    counter: Counter[str] = Counter()

    def logged(role, handler):
        def h(call):
            kind = kind_of(role, call)
            with lock:
                with open(calls_path, "a") as f:
                    line = {"role": role, "kind": kind, "inputs": call.inputs, "skill": call.skill}
                    f.write(json.dumps(line, sort_keys=True) + "\n")
                counter[role] += 1
                counter[kind] += 1
                if kill_at and counter[kill_kind] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return handler(call)

        return h

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    target = fake_lm(logged("target", target_handler), name="fake/target")
    reflection = fake_lm(logged("reflection", rule_reflector(harmful_once=True)), name="fake/reflect")
    with dspy.context(lm=target):
        opt = optimizer(reflection, carry_ahead=sys.argv[4:] != ["nocarry"], log_dir=log_dir)
        compiled = opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)
    print(json.dumps({"skill": compiled.skill, "stop_reason": compiled.detailed_results.stop_reason}))


if __name__ == "__main__":
    main()
