"""What the reflection LM proposes: one rollout of a bundled task's first N training examples (cached in the
temp dir), then one reflect stage with the current prompts; prints the accuracy, each patch's summary and edits.

    python benchmarks/reflect_probe.py ticket_routing qwen2.5-coder-1.5b 16 2             # N=16, minibatch 2
    CONTRASTS=2 python benchmarks/reflect_probe.py ticket_routing qwen2.5-coder-1.5b 16 4   # with contrasts
    python benchmarks/reflect_probe.py ticket_routing qwen2.5-coder-1.5b 16 4 skill.md     # from a skill
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import dspy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skillopt_dspy.budget import Usage  # noqa: E402
from skillopt_dspy.config import load_config  # noqa: E402
from skillopt_dspy.parallel import Runner  # noqa: E402
from skillopt_dspy.scoring import Score  # noqa: E402
from skillopt_dspy.skill import apply_skill  # noqa: E402
from skillopt_dspy.stages.reflect import minibatches, reflect  # noqa: E402
from skillopt_dspy.stages.rollout import Trajectory, rollout  # noqa: E402
from skillopt_dspy.task import describe_task  # noqa: E402
from skillopt_dspy.workspace import build  # noqa: E402


def main(task: str, model: str, n: int, minibatch: int, skill: str) -> None:
    contrasts = int(os.environ.get("CONTRASTS", "0"))
    overrides = [f"model.lm=local/{model}", f"data.train_limit={n}"]
    ws = build(load_config(ROOT / "configs" / f"{task}.yaml", overrides=overrides))
    train = ws.splits["train"][:n]
    cache = Path(tempfile.gettempdir()) / f"skillopt-probe-{task}-{model}-{n}.pkl"
    usage = Usage()
    with dspy.context(adapter=ws.adapter), Runner(2, usage) as runner:
        if cache.exists() and not skill:
            saved = pickle.loads(cache.read_bytes())
            trajs = [Trajectory(train[i], dspy.Prediction(**p), Score(**s), steps=st) for i, p, s, st in saved]
        else:
            start = time.perf_counter()
            program = apply_skill(ws.program.deepcopy(), skill)
            trajs = rollout(program, train, metric=ws.metric, runner=runner, lm=ws.lm)
            print(f"rollout of {n}: {time.perf_counter() - start:.0f} s", flush=True)
            if not skill:
                rows = [(i, dict(t.prediction.items()), t.score.to_dict(), t.steps) for i, t in enumerate(trajs)]
                cache.write_bytes(pickle.dumps(rows))
        print(f"accuracy {sum(t.score.hard for t in trajs) / n:.2f}", flush=True)
        start = time.perf_counter()
        patches = reflect(
            trajs,
            skill=skill,
            task=describe_task(ws.program),
            edit_budget=4,
            rejected=[],
            memory="",
            lm=ws.reflection_lm,
            runner=runner,
            minibatch_size=minibatch,
            contrasts=contrasts,
        )
        calls = len(minibatches(trajs, minibatch, 0))
        print(f"reflect, {calls} calls: {time.perf_counter() - start:.0f} s", flush=True)
    for p in patches:
        print(p.source, "|", p.reasoning)
        for e in p.edits:
            print("   ", e.describe())
    print("tokens", usage.snapshot()["tokens"])


if __name__ == "__main__":
    task, model, n, minibatch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    main(task, model, n, minibatch, Path(sys.argv[5]).read_text() if len(sys.argv) > 5 else "")
