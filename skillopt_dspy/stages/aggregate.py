"""Aggregate: merge the patches of one step into one, keeping support counts.

Duplicates (same op, target and content up to whitespace and case; for an ``add``, the same content under
any heading) are merged without an LM call. The
failure analysts' patches are merged first, then the success analysts', each hierarchically (groups of
``fan_in`` patches in parallel, then the merged results, until one is left); a final merge joins the two and,
where they conflict, the merger is told to keep the failure side (it fixes errors; the success side only
writes down what already works), and select ranks failure-sourced edits first on equal support. Support of a
merged edit is the sum of the support of the proposals it names in ``merged_from`` and says the same thing as
(:func:`credit`), computed here rather than trusted from the LM: each proposal is counted once, and a proposal
no merged edit counts (one whose sense the merge lost, or one the merger left out) stays as it was, for select
to rank. Measured on the 1.5B merger (ticket routing): it named proposals in several merged edits and level
after level, so one rule had a support of 24 from 11 proposals, and it left out the step's best proposals
("payment dispute -> escalations", "signing in -> account_access"). A merged edit that glues distinct
proposals into one rule (a conjunction of their cues, as the 1.5B analysts wrote themselves) gives way to the
proposals it names. A merge call that fails falls back to the deduplicated union (counted as an
``aggregate_error`` fault), so no proposal is lost to a malformed answer; a merged edit that cannot apply to
the skill (a ``replace`` whose target is not in it: a 1.5B merger turned nine additions to an empty skill into
two such edits) is replaced by the proposals it merged. On an empty skill the merger, like the analysts, can
only write ``add`` edits (schema-constrained).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import dspy

from skillopt_dspy.edits import Edit, Patch, apply_edits, squash
from skillopt_dspy.guards import repaired_fields
from skillopt_dspy.lm.adapter import json_adapter
from skillopt_dspy.parallel import Runner
from skillopt_dspy.signatures import AggregateEdits, for_empty_skill
from skillopt_dspy.stages.examples import without_examples
from skillopt_dspy.stages.reflect import editable_text
from skillopt_dspy.stages.rollout import FATAL_ERRORS

logger = logging.getLogger(__name__)


def _same_rule(e: Edit) -> str:
    """What makes two edits duplicates: an ``add`` is its text wherever it goes (the same rule under two
    headings is one rule said twice; the 1.5B analysts put one rule under several label-named headings, and
    select kept both copies in one candidate), any other edit its op, target and text."""
    return "add\x1f" + squash(e.content) if e.op == "add" else e.key()


def dedupe(edits: Sequence[Edit], *, one_voice: bool = False) -> list[Edit]:
    """Merge duplicates (see :func:`_same_rule`), summing support; the first one's target is kept and
    failure-sourced wins over success-sourced. Order kept.

    ``one_voice``: the edits are one analyst's (one patch): a rule it wrote twice is still one vote, so the
    larger support is kept, not the sum (a 1.5B analyst wrote a rule about one ticket under two headings,
    and the sum ranked it above the general rules other analysts proposed once)."""
    merged: dict[str, Edit] = {}
    for e in edits:
        key = _same_rule(e)
        old = merged.get(key)
        if old is None:
            merged[key] = e
        else:
            source = "failure" if "failure" in (old.source, e.source) else old.source
            support = max(old.support, e.support) if one_voice else old.support + e.support
            merged[key] = old.model_copy(update={"support": support, "source": source})
    return list(merged.values())


def format_proposals(edits: Sequence[Edit]) -> str:
    lines = []
    for i, e in enumerate(edits, 1):
        lines.append(
            f"[{i}] (support {e.support}, from {e.source} analysis) op={e.op} target={e.target!r}\n"
            f"    content={e.content!r}\n    rationale={e.rationale!r}"
        )
    return "\n".join(lines)


def _merge_group(
    edits: list[Edit],
    *,
    skill: str,
    task: str,
    edit_budget: int,
    memory: str,
    runner: Runner,
    errors: list[str] | None,
) -> list[Edit]:
    signature = AggregateEdits if editable_text(skill) else for_empty_skill(AggregateEdits)
    try:
        out = dspy.Predict(signature)(
            task=task or "(not described)",
            skill=without_examples(skill) or "(empty: no rules yet)",
            proposals=format_proposals(edits),
            edit_budget=edit_budget,
            optimizer_memory=memory or "(none yet)",
        )
    except FATAL_ERRORS:
        raise
    except Exception as exc:
        runner.usage.count_fault("aggregate_error")
        message = f"aggregation failed, keeping the deduplicated union: {type(exc).__name__}: {str(exc)[:300]}"
        logger.warning(message)
        if errors is not None:
            errors.append(message)
        return edits
    result: list[Edit] = []
    credited: set[int] = set()  # proposals counted in a merged edit's support: each once
    for m in out.edits or []:
        claimed = [i - 1 for i in dict.fromkeys(m.merged_from) if 1 <= i <= len(edits) and i - 1 not in credited]
        fields = repaired_fields(m.model_dump(exclude={"merged_from"}), skill)
        counted, glued = credit(Edit(**fields), [edits[i] for i in claimed])
        sources = [edits[claimed[k]] for k in counted]
        support = sum(s.support for s in sources) or 1
        source = "failure" if not sources or any(s.source == "failure" for s in sources) else sources[0].source
        merged = Edit(**fields, support=support, source=source)
        broken = glued or _cannot_apply(skill, merged)
        if broken and claimed:  # the merge made an edit that cannot apply or glues rules: keep the proposals
            logger.info("a merged edit %s; kept the %d proposals it merged", broken, len(claimed))
            result.extend(edits[i] for i in claimed)
            credited.update(claimed)
        else:
            result.append(merged)
            credited.update(claimed[k] for k in counted)
    # Not counted in a merged edit (named and their sense lost, or left out): they stay as they were. Ranking
    # them is select's work: measured on the 1.5B merger, the proposals it left out were the step's best.
    result.extend(e for i, e in enumerate(edits) if i not in credited)
    return dedupe(result)


_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an the is are be been should must will to of and or in on for it its if then this that these those "
        "with as by at from when any all not no do does about into than so",
    )
)


def words(text: str) -> set[str]:
    """The content words of ``text``: lower-cased, stop words out, a plural ``s`` cut (the unit of :func:`credit`).

    Example:
        >>> sorted(words("When the ticket mentions payment disputes, route it to 'escalations'."))
        ['dispute', 'escalation', 'mention', 'payment', 'route', 'ticket']
    """
    out = set()
    for w in re.findall(r"\w+", text.lower()):
        if w in _STOPWORDS:
            continue
        out.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


SAME_SENSE = 0.5  # Jaccard similarity of content words at which two proposals say the same thing
GLUED_WORDS = 3  # words a merged edit may take from proposals unlike its main one before it counts as glued


def credit(merged: Edit, sources: Sequence[Edit]) -> tuple[list[int], str | None]:
    """Which of ``sources`` (the proposals a merged edit names) it counts, and why it is glue, if it is. Pure.

    The main source is the one sharing most words with the merged edit; the others count only if they say
    the same thing as it (content-word Jaccard >= ``SAME_SENSE``). A merged edit that takes
    ``GLUED_WORDS`` or more words found only in the proposals it does not count glued distinct rules into
    one (a conjunction no input satisfies); the caller keeps the proposals instead. A rewrite of one
    proposal in other words, or a merge of paraphrases, is credited as before.

    Example:
        >>> from skillopt_dspy.edits import Edit
        >>> a = Edit(op="add", content="When the ticket mentions a payment dispute, the queue is escalations.")
        >>> b = Edit(op="add", content="When the customer cannot sign in, the queue is account_access.")
        >>> credit(Edit(op="add", content="Payment disputes go to escalations."), [a])
        ([0], None)
        >>> glue = Edit(op="add", content="When the ticket mentions a payment dispute and the customer cannot "
        ...             "sign in, the queue is escalations.")
        >>> credit(glue, [a, b])[1]
        "glues distinct proposals together (took 'cannot', 'customer', 'sign' from ones it does not say)"
    """
    if not sources:
        return [], None
    mine = words(merged.content)
    each = [words(s.content) for s in sources]
    main = max(range(len(sources)), key=lambda k: len(each[k] & mine))
    counted = [k for k in range(len(sources)) if k == main or _jaccard(each[k], each[main]) >= SAME_SENSE]
    own = set().union(*(each[k] for k in counted))
    foreign = set().union(*(each[k] for k in range(len(sources)) if k not in counted)) - own
    taken = sorted(mine & foreign)
    if len(taken) >= GLUED_WORDS:
        shown = ", ".join(repr(w) for w in taken[:4])
        return counted, f"glues distinct proposals together (took {shown} from ones it does not say)"
    return counted, None


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _cannot_apply(skill: str, edit: Edit) -> str | None:
    """Why ``edit`` alone cannot apply to ``skill`` (a target not in it, ...), or None."""
    (report,) = apply_edits(skill, [edit]).reports
    return None if report.applied else report.reason


def _merge_levels(groups: list[list[Edit]], merge_chunk, *, fan_in: int, runner: Runner, lm: dspy.BaseLM) -> list[Edit]:
    """Merge ``groups`` ``fan_in`` at a time, level by level, until one list of edits is left."""
    while len(groups) > 1:
        chunks = [groups[i : i + fan_in] for i in range(0, len(groups), fan_in)]
        groups = runner.map(merge_chunk, chunks, role_name="reflection", lm=lm, adapter=json_adapter(lm))
    return groups[0] if groups else []


def aggregate(
    patches: Sequence[Patch],
    *,
    skill: str,
    task: str = "",
    edit_budget: int,
    memory: str,
    lm: dspy.BaseLM,
    runner: Runner,
    fan_in: int = 4,
    errors: list[str] | None = None,
) -> Patch:
    """Merge ``patches`` into one :class:`Patch` whose edits carry support counts: failures, successes, both."""
    reasoning = "\n".join(p.reasoning for p in patches if p.reasoning)
    options = {"skill": skill, "task": task, "edit_budget": edit_budget, "memory": memory, "runner": runner}

    def merge(chunk: list[list[Edit]]) -> list[Edit]:
        edits = dedupe([e for g in chunk for e in g])
        if len(chunk) == 1 or len(edits) <= 1:  # nothing from another analyst to merge with: no LM call
            return edits
        return _merge_group(edits, errors=errors, **options)

    sides = []
    for source in ("failure", "success"):
        groups = [dedupe(p.edits, one_voice=True) for p in patches if p.edits and p.source == source]
        sides.append(_merge_levels(groups, merge, fan_in=fan_in, runner=runner, lm=lm))
    failures, successes = sides
    if failures and successes:
        (edits,) = runner.map(merge, [[failures, successes]], role_name="reflection", lm=lm, adapter=json_adapter(lm))
    else:
        edits = failures or successes
    return Patch(edits=edits, reasoning=reasoning, source="aggregate")
