"""One training process per log_dir: a second one gets a clear error; a dead holder never blocks."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dspy
import pytest

from skillopt_dspy import SkillOpt
from skillopt_dspy.state import RunDir, RunDirBusyError
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

ROOT = Path(__file__).resolve().parents[1]


def compile_into(log_dir):
    with dspy.context(lm=fake_lm(target_handler)):
        opt = SkillOpt(
            metric=group_metric, reflection_lm=fake_lm(rule_reflector()), batch_size=4, epochs=1, log_dir=log_dir
        )
        return opt.compile(WordGroup(), trainset=word_examples(["apple", "ivy"]), valset=word_examples(["queen"]))


def test_a_second_process_training_into_the_same_log_dir_is_a_clear_error(tmp_path):
    holder = RunDir(tmp_path)
    holder.acquire_lock()
    try:
        with pytest.raises(RunDirBusyError, match=r"in use by another training process \(pid \d+"):
            compile_into(tmp_path)
        assert not (tmp_path / "state.json").exists(), "the second run wrote nothing"
    finally:
        holder.release_lock()
    compiled = compile_into(tmp_path)  # released: training works
    assert compiled.detailed_results.stop_reason


def test_the_lock_of_a_killed_process_does_not_block(tmp_path):
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from skillopt_dspy.state import RunDir
        held = RunDir({str(tmp_path)!r})
        held.acquire_lock()
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"locked"
    with pytest.raises(RunDirBusyError):
        RunDir(tmp_path).acquire_lock()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run_dir = RunDir(tmp_path)
    run_dir.acquire_lock()  # the kernel dropped the dead process's lock
    run_dir.release_lock()
