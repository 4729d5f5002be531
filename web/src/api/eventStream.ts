// Server-Sent Events from the mesh (a server stream of HttpBody that Envoy writes as
// text/event-stream), read with fetch rather than EventSource: EventSource cannot send the
// Authorization header, and a token in the URL would land in access logs. Like EventSource it
// reconnects after the stream ends (the server's idle end, a dropped connection), after the
// `retry:` delay the server asked for, with a fresh token each time.
import { Code } from "@connectrpc/connect";
import type { Problem } from "./errors";
import { problemFromRest } from "./rest";
import { accessToken, refreshAccessToken } from "./transport";

export interface ServerEvent {
  event: string;
  data: string;
}

/** The events of an event-stream body (the WHATWG format: `field: value` lines, a blank line
 * ends an event, `:` lines are comments such as keepalives). `retry:` is reported through
 * `onRetry`. */
export async function* serverEvents(
  body: ReadableStream<Uint8Array>,
  onRetry: (milliseconds: number) => void = () => {},
): AsyncGenerator<ServerEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
        else if (field === "retry" && /^\d+$/.test(text)) onRetry(Number(text));
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export interface FollowOptions {
  /** Called with each event's name and parsed JSON data. */
  onEvent: (name: string, data: unknown) => void;
  /** Called with true once a stream is open, false while it is down. */
  onOpen?: (open: boolean) => void;
  /** A refusal (the API's error answer): following stops. */
  onProblem: (problem: Problem) => void;
  signal: AbortSignal;
}

const DEFAULT_RETRY_MS = 3000;

function pause(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Follows the event stream at `path` until `signal` aborts or the API refuses it. An expired
 * token is refreshed once per refusal; a dropped connection is retried after the delay. */
export async function followEvents(path: string, options: FollowOptions): Promise<void> {
  const { signal } = options;
  let retryMs = DEFAULT_RETRY_MS;
  let renewed = false;
  while (!signal.aborted) {
    try {
      const token = renewed ? await refreshAccessToken() : await accessToken();
      const reply = await fetch(path, {
        headers: { accept: "text/event-stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        signal,
      });
      if (!reply.ok || !reply.body) {
        const problem = problemFromRest(await reply.json().catch(() => ({})), reply.status);
        if (problem.code === Code.Unauthenticated && !renewed) {
          renewed = true;
          continue;
        }
        options.onProblem(problem);
        return;
      }
      renewed = false;
      options.onOpen?.(true);
      for await (const { event, data } of serverEvents(reply.body, (ms) => (retryMs = ms))) {
        options.onEvent(event, JSON.parse(data));
      }
    } catch (error) {
      if (signal.aborted) return;
      console.warn("event stream dropped", error);
    }
    options.onOpen?.(false);
    await pause(retryMs, signal);
  }
}
