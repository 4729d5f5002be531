"""The vision service: objects, labels and captions of images, hands and their gestures."""

from voka.registry import declare

DECLARATION = declare("vision", 50058, __file__, consumes=())
