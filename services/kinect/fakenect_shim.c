/*
 * Debian's fakenect (libfreenect0.5, fakenect/libfreenect.so.0.5) replays a recording but does
 * not define freenect_camera_to_world, which Debian's libfreenect_sync links against: without
 * it the sync wrapper cannot load over fakenect. This is that one function, with the reference
 * optics libfreenect uses before a device's registration tables are read (pixel size 0.1042 mm
 * at 120 mm). The kinect image compiles it when it is built, a checkout on first use
 * (services/kinect/shim.py); the service preloads it beside fakenect.
 */
void freenect_camera_to_world(void *dev, int cx, int cy, int wz, double *wx, double *wy)
{
	double factor = 2.0 * 0.1042 * wz / 120.0;
	(void)dev;
	*wx = (cx - 320) * factor;
	*wy = (cy - 240) * factor;
}
