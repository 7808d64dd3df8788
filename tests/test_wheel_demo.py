"""`rag-app demo` from a built wheel in a fresh venv, run outside the source tree: the sample documents ship
as package data, and nothing of the checkout (sources, editable install, working directory) is on the path.

The wheel is built offline from a copy of the project's sources (so no stale ``build/`` folder or
``*.egg-info`` of the checkout gets into it, and the checkout is left untouched). The new venv sees the
project's dependencies, and the bundled models, through a ``.pth`` file holding the path of this
interpreter's site-packages: a plain path line adds that folder to ``sys.path`` without running the ``.pth``
files inside it, so the editable install of the checkout stays inactive there.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from rag_app.demo import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "rag_app" / "sample_data"
PACKAGES = ("retrievers", "ingest", "finetune", "rag_app")

pytestmark = pytest.mark.integration


def project_copy(destination: Path) -> Path:
    """The files a wheel is built from (pyproject, README, the packages it names), without build leftovers."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = [pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert sorted(included) == sorted(PACKAGES)  # every package the wheel names is tested for below
    destination.mkdir()
    for name in ("pyproject.toml", pyproject["project"]["readme"]):
        shutil.copy2(ROOT / name, destination / name)
    leftovers = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for package in included:
        shutil.copytree(ROOT / package, destination / package, ignore=leftovers)
    return destination


def our_site_packages() -> list[str]:
    """This interpreter's site-packages folders: where the project's dependencies and bundled models live."""
    return list(dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                               *site.getsitepackages()]))


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would put the checkout on the path."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    return {**env, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            **extra}


def run(args: list[str | Path], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=clean_env(**extra), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"{args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the project, built offline without build isolation (setuptools from this environment)."""
    work = tmp_path_factory.mktemp("wheel")
    source = project_copy(work / "source")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", work / "dist", source], cwd=work)
    (built,) = (work / "dist").glob("rag_app-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh venv with the wheel installed and this environment's site-packages visible; (venv, its
    site-packages)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    cwd = venv.parent
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=cwd)
    python = venv / "bin" / "python"
    new_site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=cwd).stdout.strip())
    (new_site / "project-dependencies.pth").write_text("".join(f"{path}\n" for path in our_site_packages()),
                                                       encoding="utf-8")
    # pip comes from this environment's site-packages; --ignore-installed: never touch the rag-app it sees there.
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel], cwd=cwd)
    return venv, new_site


def test_the_wheel_holds_the_sample_documents_and_the_static_page(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    samples = sorted(path.name for path in SAMPLES.iterdir() if path.is_file())
    assert len(samples) == 4
    assert {f"rag_app/sample_data/{name}" for name in samples} <= names
    assert "rag_app/server/static/index.html" in names
    assert {f"{package}/__init__.py" for package in PACKAGES} <= names
    assert not any(name.startswith(("tests/", "examples/", "benchmarks/")) for name in names)


def test_the_fresh_venv_imports_the_installed_wheel_not_the_checkout(installed: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    venv, new_site = installed
    code = (
        "import importlib, json, sys, rag_app.demo\n"
        f"files = [importlib.import_module(name).__file__ for name in {list(PACKAGES)!r}]\n"
        "print(json.dumps({'files': files, 'samples': str(rag_app.demo.SAMPLE_DATA), 'path': sys.path,\n"
        "                  'editable': sorted(m for m in sys.modules if m.startswith('__editable__'))}))"
    )
    seen = json.loads(run([venv / "bin" / "python", "-c", code], cwd=tmp_path).stdout)
    for package, file in zip(PACKAGES, seen["files"], strict=True):
        assert Path(file) == new_site / package / "__init__.py"
    assert Path(seen["samples"]) == new_site / "rag_app" / "sample_data"
    assert seen["editable"] == []  # the checkout's editable-install finder never ran
    # Of the checkout, only the site-packages of its venv (the dependencies) may be on the path, after ours.
    inside = [entry for entry in seen["path"] if entry and Path(entry).resolve().is_relative_to(ROOT)]
    assert set(inside) <= set(our_site_packages()), inside
    assert seen["path"].index(str(new_site)) < min((seen["path"].index(entry) for entry in inside), default=1 << 30)


def test_the_installed_demo_answers_the_three_questions_from_the_packaged_samples(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    venv, new_site = installed
    result = run([venv / "bin" / "rag-app", "demo"], cwd=tmp_path, COLUMNS="250")
    out = result.stdout
    samples = new_site / "rag_app" / "sample_data"
    count = sum(path.is_file() for path in SAMPLES.iterdir())
    assert f"{count} files, " in out and f"from {samples}; reranker: minilm (colbert)" in out
    assert "failed" not in out
    assert str(ROOT / "rag_app") not in out + result.stderr  # nothing was read from the checkout
    starts = [out.index(f"Question {number}: {question}") for number, question in enumerate(QUESTIONS, 1)]
    ends = [*starts[1:], out.index("Time per step")]
    for number, (start, end) in enumerate(zip(starts, ends, strict=True), 1):
        section = out[start:end]
        answer = section.split("\n", 1)[1].split(f"Sources given to the model for question {number}")[0]
        assert answer.strip(), section  # an answer was streamed before its sources table
        assert "nimbus-manual.md" in section  # the manual answers all three questions (tests/test_cli_demo.py)
        assert "citations by sentence: " in section
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # the demo writes nothing where it runs
