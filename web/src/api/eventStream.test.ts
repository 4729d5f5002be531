import { describe, expect, it } from "vitest";
import { serverEvents, type ServerEvent } from "./eventStream";

/** A body that arrives in the given pieces, split anywhere (mid-line, mid-character). */
function body(...pieces: string[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(pieces.join(""));
  const cuts = pieces.map((_, i) => new TextEncoder().encode(pieces.slice(0, i + 1).join("")).length);
  return new ReadableStream({
    start(controller) {
      let from = 0;
      for (const to of cuts) {
        controller.enqueue(bytes.slice(from, to));
        from = to;
      }
      controller.close();
    },
  });
}

async function all(
  stream: ReadableStream<Uint8Array>,
  onRetry?: (ms: number) => void,
): Promise<ServerEvent[]> {
  const events: ServerEvent[] = [];
  for await (const event of serverEvents(stream, onRetry)) events.push(event);
  return events;
}

describe("serverEvents", () => {
  it("reads named events, skips keepalive comments and reports retry", async () => {
    let retry = 0;
    const events = await all(
      body("retry: 3000\n\n", 'event: tasks\ndata: {"tasks":[]}\n\n', ": keepalive\n\n", 'data: {"a":1}\n\n'),
      (ms) => (retry = ms),
    );
    expect(retry).toBe(3000);
    expect(events).toEqual([
      { event: "tasks", data: '{"tasks":[]}' },
      { event: "message", data: '{"a":1}' },
    ]);
  });

  it("joins events split across chunks, with CRLF line ends and non-ASCII text", async () => {
    const events = await all(body("event: met", 'rics\ndata: {"t":"ta', 'reas ñ"}\r\n', "\r\n"));
    expect(events).toEqual([{ event: "metrics", data: '{"t":"tareas ñ"}' }]);
  });

  it("drops an event the stream ended in the middle of", async () => {
    expect(await all(body('event: tasks\ndata: {"tasks":[]}\n'))).toEqual([]);
  });
});
