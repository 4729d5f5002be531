"""Every stream fits the NATS servers' file store: JetStream reserves each stream's `max_bytes`
when it creates it and refuses a stream that no longer fits ("insufficient storage resources
available"), which is what `tools/k8s_smoke.py` found when 9 streams of 1 GiB met the 8 GB
store of k8s/base/nats/nats.conf. The object buckets reserve theirs too."""

from __future__ import annotations

import re
from pathlib import Path

from services.meetings.settings import MeetingsSettings
from voka import registry
from voka.config import Settings

K8S = Path(__file__).resolve().parents[2] / "k8s"
UNITS = {"": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3}


def _configured(name: str) -> str | None:
    for line in (K8S / "base" / "config" / "voka.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def test_every_stream_fits_the_file_store() -> None:
    conf = (K8S / "base" / "nats" / "nats.conf").read_text()
    found = re.search(r"^\s*max_file_store:\s*(\d+)\s*([KMG]?B?)\s*$", conf, re.MULTILINE)
    assert found, "nats.conf sets max_file_store"
    store = int(found[1]) * UNITS[found[2].upper()]  # decimal units: the smaller reading
    per_stream = int(_configured("VOKA_STREAM_MAX_BYTES") or Settings().stream_max_bytes)
    streams = len(registry.names()) + 2  # one per service, ops, dead letters
    # the object buckets (voka/objects.py): the meetings' recordings on their way to speech
    buckets = int(
        _configured("VOKA_MEETINGS_OBJECTS_MAX_BYTES")
        or MeetingsSettings().meetings_objects_max_bytes
    )
    assert streams * per_stream + buckets <= store, (streams, per_stream, buckets, store)
