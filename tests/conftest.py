"""Shared fixtures. ``hive_workload`` and ``large_hive_workload`` are written once per test session:
treat them as read-only (copy with shutil.copytree before changing anything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.workload import WorkloadTruth, write_workload
from tests.client_helpers import count_hive_records

# 2 queen DMs, 2 colonies x (queen + 4 workers), the forks and graph runs write_workload adds: 750 turns
# each make ~105k records.
LARGE_WORKLOAD = {"queens": 2, "colonies": 2, "workers_per_colony": 4, "turns_per_session": 750, "seed": 5}


@pytest.fixture(scope="session")
def hive_workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth]:
    """A default workload written by the real aden-hive EventBus and RuntimeLogger: (HIVE_HOME, truth)."""
    home = tmp_path_factory.mktemp("hive_home")
    return home, write_workload(home)


@pytest.fixture(scope="session")
def large_hive_workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth, int]:
    """A busy user's history (≥ 100k records, ~12.7k LLM calls): (HIVE_HOME, truth, records in its files)."""
    home = tmp_path_factory.mktemp("large_hive_home")
    truth = write_workload(home, **LARGE_WORKLOAD)  # type: ignore[arg-type]
    return home, truth, count_hive_records(home)
