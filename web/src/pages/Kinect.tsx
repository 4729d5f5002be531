// Kinect: the device's live RGB view (StreamFrames as JPEG, a gRPC-Web server stream, each frame
// shown as an object URL) and, beside it from the same stream, its depth view (millimetres drawn
// on a canvas in false colour, depthColors.ts), its tilt and its LED.
import { useEffect, useRef, useState } from "react";
import { client } from "../api/transport";
import { isAborted, problemOf, type Problem } from "../api/errors";
import {
  type Device,
  type Frame,
  FrameFormat,
  FrameType,
  KinectService,
  LedState,
} from "../gen/voka/kinect/v1/kinect_pb";
import { enumLabel } from "../format";
import { useT } from "../i18n";
import { ProblemBanner, Section, Select, useCall } from "../ui/kit";
import { depthToRgba } from "./depthColors";

const kinect = client(KinectService);

const LEDS = [
  LedState.OFF,
  LedState.GREEN,
  LedState.RED,
  LedState.YELLOW,
  LedState.BLINK_GREEN,
  LedState.BLINK_RED_YELLOW,
];
const FPS = 5;

export function KinectPage() {
  const t = useT();
  const call = useCall();
  const run = call.run;
  const [device, setDevice] = useState<Device | null>(null);
  const [frame, setFrame] = useState<string | null>(null);
  const [frames, setFrames] = useState(0);
  const [depthFrames, setDepthFrames] = useState(0);
  const depthCanvas = useRef<HTMLCanvasElement | null>(null);
  const [live, setLive] = useState(false);
  const [tilt, setTilt] = useState(0);
  const [streamProblem, setStreamProblem] = useState<Problem | null>(null);
  const abort = useRef<AbortController | null>(null);
  const shown = useRef<string | null>(null);

  useEffect(() => {
    void run(async () => {
      const status = await kinect.getStatus({});
      setDevice(status.device ?? null);
      setTilt(Math.round(status.device?.tiltDegrees ?? 0));
    });
    return () => {
      abort.current?.abort();
      if (shown.current) URL.revokeObjectURL(shown.current);
    };
  }, [run]);

  async function watch() {
    if (!device) return;
    const controller = new AbortController();
    abort.current = controller;
    setLive(true);
    setStreamProblem(null);
    try {
      const stream = kinect.streamFrames(
        {
          name: device.name,
          types: [FrameType.RGB, FrameType.DEPTH],
          fps: FPS,
          rgbFormat: FrameFormat.JPEG,
          depthFormat: FrameFormat.DEPTH_MM,
        },
        { signal: controller.signal },
      );
      for await (const reply of stream) {
        if (!reply.frame) continue;
        if (reply.frame.type === FrameType.DEPTH) {
          drawDepth(reply.frame);
          continue;
        }
        const url = URL.createObjectURL(new Blob([reply.frame.data as BlobPart], { type: "image/jpeg" }));
        if (shown.current) URL.revokeObjectURL(shown.current);
        shown.current = url;
        setFrame(url);
        setFrames((n) => n + 1);
      }
    } catch (error) {
      if (!isAborted(error)) setStreamProblem(problemOf(error));
    } finally {
      setLive(false);
    }
  }

  /** Paints a depth frame on the canvas (sized to the frame) and counts it. */
  function drawDepth(depth: Frame) {
    const canvas = depthCanvas.current;
    const context = canvas?.getContext("2d");
    if (!canvas || !context) return;
    canvas.width = depth.width;
    canvas.height = depth.height;
    const pixels = depthToRgba(depth.data, depth.width, depth.height);
    context.putImageData(new ImageData(pixels, depth.width, depth.height), 0, 0);
    setDepthFrames((n) => n + 1);
  }

  async function applyTilt() {
    if (!device) return;
    const reply = await call.run(() => kinect.setTilt({ name: device.name, tiltDegrees: tilt }));
    if (reply?.device) setDevice(reply.device);
  }

  async function applyLed(value: string) {
    if (!device) return;
    const reply = await call.run(() => kinect.setLed({ name: device.name, led: Number(value) }));
    if (reply?.device) setDevice(reply.device);
  }

  return (
    <div className="page" data-testid="kinect-page">
      <h1>{t("nav.kinect")}</h1>
      <ProblemBanner problem={call.problem} testId="kinect-problem" />
      {device && (
        <Section title={device.model || device.name} testId="kinect-device">
          <p className="muted" data-testid="kinect-status">
            {device.connected ? "✓" : "✗"} {device.name} · {device.serial}
          </p>
          {live ? (
            <button type="button" data-testid="kinect-stop" onClick={() => abort.current?.abort()}>
              {t("voice.stop")}
            </button>
          ) : (
            <button type="button" data-testid="kinect-start" onClick={() => void watch()}>
              {t("kinect.watch")}
            </button>
          )}
          <ProblemBanner problem={streamProblem} testId="kinect-stream-problem" />
          <div className="frames">
            {frame && (
              <img
                src={frame}
                alt={t("kinect.view")}
                data-testid="kinect-frame"
                data-frames={frames}
                className="frame"
              />
            )}
            <canvas
              ref={depthCanvas}
              role="img"
              aria-label={t("kinect.depthView")}
              data-testid="kinect-depth"
              data-frames={depthFrames}
              className="frame"
              hidden={depthFrames === 0}
            />
          </div>
          <div className="row">
            <div className="field">
              <label htmlFor="kinect-tilt">{t("kinect.tilt", { degrees: tilt })}</label>
              <input
                id="kinect-tilt"
                data-testid="kinect-tilt"
                type="range"
                min={-27}
                max={27}
                value={tilt}
                onChange={(e) => setTilt(Number(e.target.value))}
                onPointerUp={() => void applyTilt()}
                onKeyUp={() => void applyTilt()}
              />
            </div>
            <Select
              label={t("kinect.led")}
              value={String(device.led)}
              onChange={(v) => void applyLed(v)}
              testId="kinect-led"
            >
              {LEDS.map((led) => (
                <option key={led} value={led}>
                  {enumLabel(LedState, led)}
                </option>
              ))}
            </Select>
          </div>
        </Section>
      )}
    </div>
  );
}
