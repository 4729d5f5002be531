import { describe, expect, it } from "vitest";
import { FAR_MM, NEAR_MM, depthToRgba } from "./depthColors";

function frame(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 2);
  const view = new DataView(bytes.buffer);
  values.forEach((mm, index) => view.setUint16(index * 2, mm, true));
  return bytes;
}

describe("depthToRgba", () => {
  it("draws near red, middle green, far blue and no reading black", () => {
    const middle = (NEAR_MM + FAR_MM) / 2;
    const rgba = depthToRgba(frame([NEAR_MM, middle, FAR_MM, 0]), 2, 2);
    expect(Array.from(rgba)).toEqual([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 0, 0, 0, 255]);
  });

  it("clamps beyond the range", () => {
    const rgba = depthToRgba(frame([100, 9000]), 2, 1);
    expect(Array.from(rgba)).toEqual([255, 0, 0, 255, 0, 0, 255, 255]);
  });

  it("refuses a frame shorter than its size", () => {
    expect(() => depthToRgba(new Uint8Array(6), 2, 2)).toThrow(RangeError);
  });
});
