// Depth frames (FRAME_FORMAT_DEPTH_MM: one uint16 little-endian millimetre value per pixel, 0 for
// no reading) turned into RGBA pixels for a canvas, near red through green to far blue, the way
// the service's `colorize` snapshots look (docs/kinect.md). Done here because the stream carries
// raw millimetres: a 16-bit PNG would show as black once a browser draws it at 8 bits.

/** The Kinect's useful range; nearer is drawn red, farther blue. */
export const NEAR_MM = 500;
export const FAR_MM = 4500;

/** RGBA bytes for `width` × `height` pixels; pixels without a reading are black. */
export function depthToRgba(data: Uint8Array, width: number, height: number): Uint8ClampedArray<ArrayBuffer> {
  const pixels = width * height;
  if (data.byteLength < pixels * 2)
    throw new RangeError(`depth frame has ${data.byteLength} bytes, not ${pixels * 2}`);
  const depth = new DataView(data.buffer, data.byteOffset, pixels * 2);
  const rgba = new Uint8ClampedArray(pixels * 4);
  for (let pixel = 0; pixel < pixels; pixel++) {
    const mm = depth.getUint16(pixel * 2, true);
    const at = pixel * 4;
    rgba[at + 3] = 255;
    if (mm === 0) continue;
    const far = Math.min(1, Math.max(0, (mm - NEAR_MM) / (FAR_MM - NEAR_MM)));
    rgba[at] = Math.round(255 * Math.max(0, 1 - 2 * far));
    rgba[at + 1] = Math.round(255 * (1 - Math.abs(2 * far - 1)));
    rgba[at + 2] = Math.round(255 * Math.max(0, 2 * far - 1));
  }
  return rgba;
}
