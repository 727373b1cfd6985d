"""Where a sweep's study lives: in memory, in SQLite, or in any SQLAlchemy database shared by workers.

A database storage gets Optuna's heartbeat: each running trial writes a heartbeat every
``heartbeat_interval`` seconds; a trial whose heartbeat is older than ``grace_period`` (a dead worker's) is
marked FAILED by the next worker that looks, and queued again with the same parameters, so that it resumes
from its run directory instead of staying RUNNING forever.

Example:
    >>> storage = open_storage(None)  # in memory
    >>> type(storage).__name__
    'InMemoryStorage'
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.study import StudyDirection

from skillopt_dspy.sweep_space import space_json

logger = logging.getLogger(__name__)

SPACE_ATTR = "skillopt_search_space"
SCHEMA_ATTEMPTS = 5
DRIVER_HINT = {
    "postgresql": 'pip install "psycopg[binary]" and write the URL as postgresql+psycopg://user:password@host/db',
    "mysql": "pip install pymysql and write the URL as mysql+pymysql://user:password@host/db",
}


def masked(url: str) -> str:
    """The URL with its password hidden (for messages and logs)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # an unparsable URL is shown as given: the error that follows says why
        return url


def retry_callback(max_retry: int | None) -> Any:
    """Optuna's callback that queues a stale trial again, keeping its reported steps (name differs by version)."""
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(max_retry=max_retry, inherit_intermediate_values=True)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several worker processes on one file: wait for the write lock instead of failing after 5 s.
        return {"connect_args": {"timeout": 60}}
    if url.startswith(("postgresql", "mysql")):
        # Fail fast on an unreachable server; re-check pooled connections a long trial left idle.
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {}


def _creation_race(exc: Exception) -> bool:
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    if isinstance(exc, (IntegrityError, ProgrammingError)):
        return True
    return isinstance(exc, OperationalError) and "already exists" in str(exc)


def open_storage(
    storage: str | BaseStorage | None,
    *,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = None,
    max_retry: int | None = 3,
) -> BaseStorage:
    """An Optuna storage: in memory (None), a SQLAlchemy URL with the heartbeat, or a storage object as given.

    An unreachable database, a missing driver or a malformed URL is one ValueError naming it.
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise TypeError(f"storage must be a SQLAlchemy URL string or an optuna storage, got {type(storage).__name__}")
    if "://" not in storage:
        raise ValueError(
            f"storage {storage!r} is not a database URL: use sqlite:///sweep.db (a file) or "
            "postgresql+psycopg://user:password@host/db (shared by workers on several machines)"
        )
    for name, value in (("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive number of seconds (an int) or None, got {value!r}")
    kwargs: dict[str, Any] = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
    if heartbeat_interval is not None:
        params = inspect.signature(RDBStorage.__init__).parameters
        new_name = "heartbeat_stale_trial_callback"  # optuna >= 4.9 (failed_trial_callback before)
        key = new_name if new_name in params else "failed_trial_callback"
        kwargs[key] = retry_callback(max_retry)
    from sqlalchemy.exc import SQLAlchemyError

    attempt = 0
    while True:
        attempt += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(storage, engine_kwargs=_engine_kwargs(storage), **kwargs)
        except SQLAlchemyError as exc:
            # Workers creating the tables of a new database at once: the losers find them made, next time.
            if attempt < SCHEMA_ATTEMPTS and _creation_race(exc):
                time.sleep(0.2 * attempt)
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"storage {masked(storage)} cannot be opened: {first}") from None
        except ImportError as exc:
            hint = DRIVER_HINT.get(storage.split(":", 1)[0].split("+", 1)[0], "install the database driver")
            raise ValueError(f"storage {masked(storage)}: the database driver is missing ({exc}); {hint}") from None
        except ValueError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"storage {masked(storage)} cannot be opened: {first}") from None


def heartbeat_enabled(storage: BaseStorage) -> bool:
    return isinstance(storage, RDBStorage) and storage.get_heartbeat_interval() is not None


def open_study(
    storage: BaseStorage,
    study_name: str,
    space: Mapping[str, Any],
    *,
    sampler: optuna.samplers.BaseSampler | None,
    pruner: optuna.pruners.BasePruner | None,
) -> optuna.Study:
    """Create the study, or load it when it exists; refuse one whose direction or search space differs."""
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.directions != [StudyDirection.MAXIMIZE]:
        shown = ", ".join(d.name.lower() for d in study.directions)
        raise ValueError(
            f"study {study_name!r} exists with direction {shown}; a sweep maximizes the validation score: "
            "use another study_name"
        )
    wanted = space_json(space)
    saved = study.user_attrs.get(SPACE_ATTR)
    if saved is None:
        for trial in study.get_trials(deepcopy=False):
            for name, dist in trial.distributions.items():
                if space.get(name) != dist:
                    raise ValueError(
                        f"study {study_name!r} has trials over {name!r} as {dist}, but this sweep asks for "
                        f"{space.get(name, 'no such knob')}: use another study_name, or the same search space"
                    )
        study.set_user_attr(SPACE_ATTR, wanted)
    elif saved != wanted:
        raise ValueError(
            f"study {study_name!r} was started with the search space {json.loads(saved)}, not "
            f"{json.loads(wanted)}: use another study_name, or the same search space"
        )
    return study
