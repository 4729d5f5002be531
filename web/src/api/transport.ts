// One gRPC-Web transport to the mesh, same origin: Envoy's grpc_web filter turns each call into
// native gRPC (server streams included: chat tokens, task and transcription watches). Every call
// carries the session's access token, refreshed shortly before it expires and once more when a
// unary call is refused as UNAUTHENTICATED (revoked on another device, clock skew).
import type { DescService } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService } from "../gen/voka/auth/v1/auth_pb";
import { getSession, needsRefresh, setSession, updateTokens } from "./session";

const baseUrl = globalThis.location?.origin ?? "http://127.0.0.1:8080";
const plainTransport = createGrpcWebTransport({ baseUrl });
const publicAuth = createClient(AuthService, plainTransport);

let refreshing: Promise<string | null> | null = null;

/** A fresh access token, or null when the session is gone (signed out, refresh refused). One
 * refresh at a time: concurrent calls wait for the same one. */
export function refreshAccessToken(): Promise<string | null> {
  refreshing ??= (async () => {
    const session = getSession();
    if (!session) return null;
    try {
      const reply = await publicAuth.refreshToken({ refreshToken: session.refreshToken });
      updateTokens({
        accessToken: reply.accessToken,
        accessExpiresAt: reply.accessTokenExpireTime
          ? timestampMs(reply.accessTokenExpireTime)
          : Date.now() + 60_000,
        refreshToken: reply.refreshToken,
      });
      return reply.accessToken;
    } catch (error) {
      if (ConnectError.from(error).code === Code.Unauthenticated) setSession(null);
      throw error;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** The session's access token, refreshed first when it is about to expire; null signed out. */
export async function accessToken(): Promise<string | null> {
  const session = getSession();
  if (!session) return null;
  return needsRefresh(session) ? refreshAccessToken() : session.accessToken;
}

const authenticate: Interceptor = (next) => async (request) => {
  const token = await accessToken();
  if (token) request.header.set("authorization", `Bearer ${token}`);
  try {
    return await next(request);
  } catch (error) {
    const refused = ConnectError.from(error).code === Code.Unauthenticated;
    if (!refused || request.stream || !token) throw error;
    const renewed = await refreshAccessToken();
    if (!renewed) throw error;
    request.header.set("authorization", `Bearer ${renewed}`);
    return next(request);
  }
};

export const transport = createGrpcWebTransport({ baseUrl, interceptors: [authenticate] });

export function client<T extends DescService>(service: T): Client<T> {
  return createClient(service, transport);
}
