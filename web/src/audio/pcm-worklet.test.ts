import { beforeAll, describe, expect, it } from "vitest";

interface Capture {
  process(inputs: Float32Array[][]): boolean;
  port: { posted: ArrayBuffer[] };
}
type CaptureClass = new (options: { processorOptions: { chunkSamples: number } }) => Capture;

let PcmCapture: CaptureClass;

beforeAll(async () => {
  // The audio thread's globals, as far as the worklet uses them.
  const scope = globalThis as unknown as Record<string, unknown>;
  scope.AudioWorkletProcessor = class {
    port = {
      posted: [] as ArrayBuffer[],
      postMessage(buffer: ArrayBuffer, transfer: ArrayBuffer[]) {
        // Transfer detaches, as in a browser: the sender's view of the buffer becomes empty.
        this.posted.push(structuredClone(buffer, { transfer }));
      },
    };
  };
  scope.registerProcessor = (_name: string, processor: CaptureClass) => {
    PcmCapture = processor;
  };
  await import("./pcm-worklet.js");
});

describe("the PCM capture worklet", () => {
  it("posts every full chunk as 16-bit PCM, chunk after chunk", () => {
    const capture = new PcmCapture({ processorOptions: { chunkSamples: 4 } });
    const block = new Float32Array([0, 0.5, -0.5, 1, -1, 2, -2, 0.25, 0, 0]);
    capture.process([[block]]);
    capture.process([[block]]);
    const chunks = capture.port.posted.map((buffer) => Array.from(new Int16Array(buffer)));
    expect(chunks).toEqual([
      [0, 16383, -16384, 32767],
      [-32768, 32767, -32768, 8191],
      [0, 0, 0, 16383],
      [-16384, 32767, -32768, 32767],
      [-32768, 8191, 0, 0],
    ]);
  });

  it("keeps running without input", () => {
    const capture = new PcmCapture({ processorOptions: { chunkSamples: 4 } });
    expect(capture.process([[]])).toBe(true);
    expect(capture.port.posted).toEqual([]);
  });
});
