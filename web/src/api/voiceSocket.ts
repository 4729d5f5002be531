// The voice chat WebSocket (docs/websocket.md): `start` with the token and the config as the
// first text frame, PCM as binary frames, control messages as text; responses arrive as the
// RPC's messages in proto3 JSON (parsed here into the generated types), each reply audio chunk's
// bytes as the binary frame right after its `audio` response. Access tokens live minutes and a
// session may last longer, so the socket sends the session's fresh token (`{"type": "token"}`)
// whenever it changes; the bridge closes a session whose token expired unrefreshed.
import { createRegistry, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb";
import {
  StreamVoiceChatResponseSchema,
  type StreamVoiceChatResponse,
} from "../gen/voka/assistant/v1/assistant_pb";

export const VOICE_CHAT_PATH = "/api/v1/ws/voice-chat";
/** How often the socket asks for the session's token: well inside the session's refresh margin
 * (REFRESH_MARGIN_MS), so a refreshed token reaches the bridge before the old one expires. */
export const TOKEN_CHECK_MS = 10_000;
// A per-turn `error` (a google.rpc.Status) carries its details as Any: their types must be known.
const registry = createRegistry(file_google_rpc_error_details);

export interface SocketError {
  code: string;
  message: string;
}

export interface VoiceChatHandlers {
  onResponse(response: StreamVoiceChatResponse): void;
  onAudio(data: ArrayBuffer): void;
  onError(error: SocketError): void;
  onClose(code: number, reason: string): void;
}

export function socketUrl(path: string, location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

export class VoiceChatSocket {
  private readonly socket: WebSocket;
  private tokenTimer: ReturnType<typeof setInterval> | undefined;

  /** `freshToken` gives the session's current access token (refreshed when about to expire). */
  constructor(
    token: string,
    config: JsonObject,
    handlers: VoiceChatHandlers,
    freshToken: () => Promise<string | null>,
  ) {
    let sent = token;
    this.socket = new WebSocket(socketUrl(VOICE_CHAT_PATH, globalThis.location));
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => {
      this.send({ type: "start", token, config });
      this.tokenTimer = setInterval(() => {
        void freshToken().then((current) => {
          if (current && current !== sent) {
            sent = current;
            this.send({ type: "token", token: current });
          }
        });
      }, TOKEN_CHECK_MS);
    };
    this.socket.onclose = (event) => {
      clearInterval(this.tokenTimer);
      handlers.onClose(event.code, event.reason);
    };
    this.socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
      if (typeof event.data !== "string") {
        handlers.onAudio(event.data);
        return;
      }
      const frame = JSON.parse(event.data) as { type: string; response?: JsonObject; error?: SocketError };
      if (frame.type === "response" && frame.response) {
        handlers.onResponse(
          fromJson(StreamVoiceChatResponseSchema, frame.response, { ignoreUnknownFields: true, registry }),
        );
      } else if (frame.type === "error" && frame.error) {
        handlers.onError(frame.error);
      }
    };
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  sendAudio(pcm: ArrayBuffer): void {
    if (this.open) this.socket.send(pcm);
  }

  answerNow(): void {
    this.send({ type: "end_of_utterance" });
  }

  cancelReply(): void {
    this.send({ type: "cancel_reply" });
  }

  /** No more audio: what is still coming is relayed, then the bridge closes with 1000. */
  end(): void {
    this.send({ type: "end" });
  }

  close(): void {
    this.socket.close(1000, "done");
  }

  private send(message: JsonObject): void {
    if (this.open) this.socket.send(JSON.stringify(message));
  }
}
