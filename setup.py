"""Build hook: the wheel carries files authored outside the package, under hive_otel/data.

* clickhouse/migrations/*.sql → hive_otel/data/migrations (``hive_otel.collector.store.migrations`` applies them);
* deploy/grafana/dashboards/*.json → hive_otel/data/dashboards (``hive-otel report`` runs their panels).

Each is authored once, where its readers expect it in the repository, and both readers look for the
packaged copy first. Without them an installed (non-editable) hive-otel, such as the collector image
built from deploy/Dockerfile, has no schema to apply. Everything else about the build is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGED = {  # source directory → (pattern, directory under hive_otel/data)
    ROOT / "clickhouse" / "migrations": ("*.sql", "migrations"),
    ROOT / "deploy" / "grafana" / "dashboards": ("*.json", "dashboards"),
}


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the files in place
        for source, (pattern, name) in PACKAGED.items():
            target = Path(self.build_lib) / "hive_otel" / "data" / name
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted(source.glob(pattern)):
                shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithData})
