import { describe, expect, it } from "vitest";
import { needsRefresh, type Session } from "./api/session";
import { parseRoute } from "./router";

describe("parseRoute", () => {
  it("reads the page from the fragment", () => {
    expect(parseRoute("#/translate")).toBe("translate");
    expect(parseRoute("#/chat/conversations/abc")).toBe("chat");
    expect(parseRoute("#tasks?x=1")).toBe("tasks");
  });

  it("answers null for no page or an unknown one", () => {
    expect(parseRoute("")).toBeNull();
    expect(parseRoute("#/")).toBeNull();
    expect(parseRoute("#/docs")).toBeNull();
  });
});

describe("needsRefresh", () => {
  const session = (expiresInMs: number): Session => ({
    accessToken: "a",
    accessExpiresAt: 1_000_000 + expiresInMs,
    refreshToken: "r",
    user: { name: "users/1", username: "ana", displayName: "Ana", admin: false },
  });

  it("refreshes within 30 s of expiry, not before", () => {
    expect(needsRefresh(session(60_000), 1_000_000)).toBe(false);
    expect(needsRefresh(session(29_000), 1_000_000)).toBe(true);
    expect(needsRefresh(session(-1), 1_000_000)).toBe(true);
  });
});
