"""Shared fixtures. ``hive_workload`` is written once per test session: treat it as read-only
(copy it with shutil.copytree before changing anything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_otel.workload import WorkloadTruth, write_workload


@pytest.fixture(scope="session")
def hive_workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkloadTruth]:
    """A default workload written by the real aden-hive EventBus and RuntimeLogger: (HIVE_HOME, truth)."""
    home = tmp_path_factory.mktemp("hive_home")
    return home, write_workload(home)
