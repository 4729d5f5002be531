"""Records ↔ the contract's messages. What an analysis found is also kept in the store as the
contract's own encoding (an `Analysis` message holding only the findings), so what the history
shows later is exactly what the call answered."""

from __future__ import annotations

from services.vision.records import (
    AnalysisRecord,
    Box,
    Caption,
    Detection,
    Findings,
    HandFinding,
    Label,
    Point,
)
from voka.vision.v1 import events_pb2, vision_pb2
from voka.wellknown import timestamp


def analysis_name(analysis_id: str) -> str:
    return f"analyses/{analysis_id}"


def _box(box: Box) -> vision_pb2.BoundingBox:
    return vision_pb2.BoundingBox(left=box.left, top=box.top, width=box.width, height=box.height)


def _box_of(box: vision_pb2.BoundingBox) -> Box:
    return Box(box.left, box.top, box.width, box.height)


def _hand(hand: HandFinding) -> vision_pb2.Hand:
    return vision_pb2.Hand(
        landmarks=[vision_pb2.Landmark(x=p.x, y=p.y, z=p.z) for p in hand.landmarks],
        handedness=hand.handedness, handedness_score=hand.handedness_score,
        gesture=hand.gesture, gesture_score=hand.gesture_score, box=_box(hand.box),
    )  # fmt: skip


def _hand_of(hand: vision_pb2.Hand) -> HandFinding:
    return HandFinding(
        tuple(Point(p.x, p.y, p.z) for p in hand.landmarks), hand.handedness,
        hand.handedness_score, hand.gesture, hand.gesture_score, _box_of(hand.box),
    )  # fmt: skip


def findings_message(findings: Findings) -> vision_pb2.Analysis:
    """The findings' fields of an Analysis (the rest unset)."""
    message = vision_pb2.Analysis(
        objects=[vision_pb2.DetectedObject(label=o.label, score=o.score, box=_box(o.box))
                 for o in findings.objects],
        labels=[vision_pb2.ImageLabel(label=label.label, score=label.score)
                for label in findings.labels],
        hands=[_hand(h) for h in findings.hands],
        object_engine=findings.object_engine, label_engine=findings.label_engine,
        hand_engine=findings.hand_engine, inference_seconds=findings.inference_seconds,
    )  # fmt: skip
    if findings.caption is not None:
        message.caption.CopyFrom(
            vision_pb2.Caption(text=findings.caption.text, engine=findings.caption.engine)
        )
    return message


def findings_of(message: vision_pb2.Analysis) -> Findings:
    caption = None
    if message.HasField("caption"):
        caption = Caption(message.caption.text, message.caption.engine)
    return Findings(
        objects=tuple(Detection(o.label, o.score, _box_of(o.box)) for o in message.objects),
        labels=tuple(Label(label.label, label.score) for label in message.labels),
        caption=caption, hands=tuple(_hand_of(h) for h in message.hands),
        object_engine=message.object_engine, label_engine=message.label_engine,
        hand_engine=message.hand_engine, inference_seconds=message.inference_seconds,
    )  # fmt: skip


def analysis(record: AnalysisRecord) -> vision_pb2.Analysis:
    image = record.image
    message = findings_message(record.findings)
    message.MergeFrom(vision_pb2.Analysis(
        name=analysis_name(record.id), owner=record.owner, kind=record.kind, source=image.source,
        kinect_device=image.kinect_device, content_type=image.content_type, width=image.width,
        height=image.height, size_bytes=image.size_bytes, sha256=image.sha256,
        create_time=timestamp(record.create_time),
    ))  # fmt: skip
    return message


def created_event(record: AnalysisRecord) -> events_pb2.AnalysisCreatedEvent:
    findings = record.findings
    return events_pb2.AnalysisCreatedEvent(
        analysis=analysis_name(record.id), owner=record.owner, kind=record.kind,
        object_labels=[o.label for o in findings.objects],
        caption=findings.caption.text if findings.caption else "", hand_count=len(findings.hands),
    )  # fmt: skip
