"""A worker reads a dispatch's arguments in either form a scheduler sends: JSON text (this
version's) or a Struct (the previous one's, still arriving during a rolling upgrade)."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2

from services.tasks.worker import arguments
from voka.tasks.v1 import events_pb2

ARGS = {"text": "héllo", "count": 3.0, "nested": {"ok": True, "items": [1.0, None, "x"]}}


def test_json_text_and_struct_give_the_same_arguments():
    struct = struct_pb2.Struct()
    struct.update(ARGS)
    as_struct = events_pb2.TaskDispatch(args=struct)
    as_json = events_pb2.TaskDispatch(args_json=json.dumps(ARGS))
    assert arguments(as_json) == arguments(as_struct) == ARGS


def test_no_arguments_is_an_empty_call():
    assert arguments(events_pb2.TaskDispatch()) == {}
