"""Offline validation of the custom resources k8s/ uses (Prometheus Operator, KEDA,
CloudNativePG), against their CRDs' schemas vendored in crd_schemas/ (see its README).

kubernetes-validate knows only Kubernetes' own kinds. A CRD's schema leaves
`additionalProperties` open where the API server prunes (or, with strict field validation,
refuses) unknown fields; `strict` closes every object that lists its properties, as
kubeconform's -strict does, so a misspelt field fails here as it would on apply.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).parent / "crd_schemas"
Doc = dict[str, Any]


def is_custom(doc: Doc) -> bool:
    """Whether the document's API group is one whose schemas are vendored here."""
    group = str(doc["apiVersion"]).rpartition("/")[0]
    return bool(group) and (SCHEMAS / group).is_dir()


def errors(doc: Doc) -> list[str]:
    """What is wrong with a custom resource ([] when valid); a kind without a vendored schema
    is an error too."""
    group, _, version = str(doc["apiVersion"]).rpartition("/")
    path = SCHEMAS / group / f"{str(doc['kind']).lower()}_{version}.json"
    if not path.is_file():
        return [f"no schema for {doc['apiVersion']} {doc['kind']} (vendor {path.name})"]
    validator = _validator(path)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(doc)
    ]


@functools.cache
def _validator(path: Path) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(strict(json.loads(path.read_text())))


def strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in closed
        and "additionalProperties" not in closed
        and not closed.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed
