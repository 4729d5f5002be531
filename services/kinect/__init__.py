"""The kinect service: depth and RGB frames, tilt and LED of a Kinect."""

from voka.registry import declare

DECLARATION = declare("kinect", 50056, __file__, consumes=())
