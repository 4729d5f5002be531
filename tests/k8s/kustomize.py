"""A small kustomize, enough for k8s/: renders a kustomization without the kustomize binary.

It understands what k8s/ uses and nothing more: `resources` (files and directories),
`components` (a `kind: Component` kustomization applied to what its user has rendered so far),
`namespace`, `configMapGenerator` (`files`, `envs`, `literals`, `options.labels`; names get
kustomize's content hash and references in pod templates follow), `images`, and `patches`
holding strategic merge patches (from `path` or inline `patch`, optionally with a `target`),
including `$patch: delete`.
Anything else in a kustomization is refused, so a new feature in k8s/ cannot be silently
ignored here. Where `kubectl` is installed the tests compare this with `kubectl kustomize`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
# libyaml when PyYAML has it: the descriptor set makes one ConfigMap close to a megabyte.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KUSTOMIZATION = "kustomization.yaml"
SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "namespace",
    "configMapGenerator",
    "images",
    "patches",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Strategic merge: these lists merge item by item on `name`; every other list is replaced.
MERGE_BY_NAME = {"containers", "initContainers", "env", "volumes"}
_ORDER = [
    "Namespace",
    "ConfigMap",
    "Secret",
    "Service",
    "Deployment",
    "StatefulSet",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
]


def build(directory: Path) -> list[Doc]:
    """The rendered resources of the kustomization in `directory`, in kustomize's kind order."""
    docs = _build(directory)
    return sorted(docs, key=lambda d: (_kind_rank(d["kind"]), d["metadata"]["name"]))


def _kind_rank(kind: str) -> int:
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER)


def _build(directory: Path, rendered: list[Doc] | None = None) -> list[Doc]:
    """A kustomization; a component (`rendered` given) adds to and changes its user's docs,
    as kustomize runs components after the user's resources and before its generators."""
    spec = yaml.load((directory / KUSTOMIZATION).read_text(), Loader=Loader)
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise NotImplementedError(f"{directory / KUSTOMIZATION}: {sorted(unknown)}")
    if (spec.get("kind") == "Component") != (rendered is not None):
        raise ValueError(f"{directory}: a Component only as a component, and only a Component")
    docs: list[Doc] = list(rendered or [])
    for entry in spec.get("resources", []):
        path = directory / entry
        docs.extend(_build(path) if path.is_dir() else load_documents(path))
    for entry in spec.get("components", []):
        docs = _build(directory / entry, docs)
    renames: dict[str, str] = {}
    for generator in spec.get("configMapGenerator", []):
        config_map = _generate_config_map(directory, generator)
        renames[config_map["metadata"]["name"]] = name = _with_hash(config_map)
        config_map["metadata"]["name"] = name
        docs.append(config_map)
    for entry in spec.get("patches", []):
        docs = _apply_patches(docs, directory, entry)
    for image in spec.get("images", []):
        for container in _containers(docs):
            container["image"] = _new_image(container["image"], image)
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
    for doc in docs:
        _rename_config_maps(doc, renames)
    return docs


def load_documents(path: Path) -> list[Doc]:
    return load_all(path.read_text())


def load_all(text: str) -> list[Doc]:
    return [doc for doc in yaml.load_all(text, Loader=Loader) if doc]


# --- configMapGenerator ---------------------------------------------------------------------


def _generate_config_map(directory: Path, generator: Doc) -> Doc:
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for env_file in generator.get("envs", []):
        data.update(parse_env_file((directory / env_file).read_text()))
    for entry in generator.get("files", []):
        key, sep, rel = entry.partition("=")
        if not sep:
            key, rel = Path(entry).name, entry
        content = (directory / rel).read_bytes()
        try:
            data[key] = content.decode()
        except UnicodeDecodeError:
            binary[key] = _wrapped_base64(content)
    config_map: Doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
    }
    options = generator.get("options", {})
    if set(options) - {"labels"}:
        raise NotImplementedError(f"configMapGenerator options {sorted(options)}")
    if "labels" in options:
        config_map["metadata"]["labels"] = dict(options["labels"])
    if data:
        config_map["data"] = data
    if binary:
        config_map["binaryData"] = binary
    return config_map


def parse_env_file(text: str) -> dict[str, str]:
    """kustomize's env files: KEY=VALUE lines, `#` comments and blank lines skipped."""
    pairs = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"env file line without '=': {line!r}")
        pairs[key] = value
    return pairs


def _wrapped_base64(content: bytes) -> str:
    """kustomize writes binaryData as base64 in 70-character lines, each ending in a newline."""
    return "\n".join(textwrap.wrap(base64.b64encode(content).decode(), 70)) + "\n"


def _with_hash(config_map: Doc) -> str:
    """kustomize's name suffix (api/hasher): the first 10 hex digits of a SHA-256 over Go's JSON
    of kind, name and data, with 0 1 3 a e swapped for g h k m t. kustomize v5 looks the name up
    under a key that never matches, so it hashes an empty name; Go's JSON escapes <, > and &."""
    encoded: Doc = {"kind": "ConfigMap", "name": "", "data": config_map.get("data", "")}
    if "binaryData" in config_map:
        encoded["binaryData"] = config_map["binaryData"]
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    name = str(config_map["metadata"]["name"])
    return name + "-" + digest.translate(str.maketrans("013ae", "ghkmt"))


# --- patches ---------------------------------------------------------------------------------


def _apply_patches(docs: list[Doc], directory: Path, entry: Doc) -> list[Doc]:
    if "path" in entry:
        patches = load_documents(directory / entry["path"])
    else:
        patches = load_all(entry["patch"])
    target = entry.get("target")
    for patch in patches:
        matches = [d for d in docs if _matches(d, patch, target)]
        if not matches:
            raise LookupError(f"patch {patch['kind']}/{patch['metadata']['name']} matches nothing")
        for doc in matches:
            if patch.get("$patch") == "delete":
                docs = [d for d in docs if d is not doc]
            else:
                body = {k: v for k, v in patch.items() if k not in ("metadata", "$patch")}
                strategic_merge(doc, body)
    return docs


def _matches(doc: Doc, patch: Doc, target: Doc | None) -> bool:
    if target is not None:
        unknown = set(target) - {"kind", "name"}
        if unknown:
            raise NotImplementedError(f"patch target fields {sorted(unknown)}")
        return (
            doc["kind"] == target["kind"]
            and re.fullmatch(target.get("name", ".*"), doc["metadata"]["name"]) is not None
        )
    return bool(
        doc["kind"] == patch["kind"] and doc["metadata"]["name"] == patch["metadata"]["name"]
    )


def strategic_merge(target: Doc, patch: Doc) -> None:
    """Maps merge recursively (null deletes a key); MERGE_BY_NAME lists merge on `name`."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value)
        elif key in MERGE_BY_NAME and isinstance(target.get(key), list):
            by_name = {item["name"]: item for item in target[key]}
            for item in value:
                if item["name"] in by_name:
                    strategic_merge(by_name[item["name"]], item)
                else:
                    target[key].append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


# --- images and references -------------------------------------------------------------------


def pod_template(doc: Doc) -> Doc | None:
    """The pod template of a workload (a CronJob's within its job template), else None."""
    if doc["kind"] == "CronJob":
        doc = doc["spec"]["jobTemplate"]
    elif doc["kind"] not in WORKLOADS:
        return None
    template: Doc = doc["spec"]["template"]
    return template


def pod_spec(doc: Doc) -> Doc | None:
    template = pod_template(doc)
    return None if template is None else template["spec"]


def _containers(docs: list[Doc]) -> Iterator[Doc]:
    for doc in docs:
        spec = pod_spec(doc)
        if spec is not None:
            yield from spec.get("initContainers", [])
            yield from spec["containers"]


def _new_image(current: str, rule: Doc) -> str:
    name, tag = current, ""
    if "@" in current:
        name, tag = current.split("@", 1)
        tag = "@" + tag
    elif ":" in current.rsplit("/", 1)[-1]:
        name, tag = current.rsplit(":", 1)
        tag = ":" + tag
    if name != rule["name"]:
        return current
    if "digest" in rule:
        tag = "@" + rule["digest"]
    elif "newTag" in rule:
        tag = ":" + str(rule["newTag"])
    return str(rule.get("newName", name)) + tag


def _rename_config_maps(doc: Doc, renames: dict[str, str]) -> None:
    spec = pod_spec(doc)
    if spec is None or not renames:
        return
    refs: list[Doc] = []
    for volume in spec.get("volumes", []):
        refs.extend([volume["configMap"]] if "configMap" in volume else [])
        for source in volume.get("projected", {}).get("sources", []):
            refs.extend([source["configMap"]] if "configMap" in source else [])
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        for env_from in container.get("envFrom", []):
            refs.extend([env_from["configMapRef"]] if "configMapRef" in env_from else [])
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            refs.extend([ref] if ref else [])
    for ref in refs:
        ref["name"] = renames.get(ref["name"], ref["name"])
