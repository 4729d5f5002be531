"""The kinect service: depth and RGB frames, tilt and LED of a Kinect."""
