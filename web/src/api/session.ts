// The signed-in session: the access JWT (short-lived), the rotating refresh token and who the
// user is. Kept in sessionStorage: it survives a reload, and stays in its own tab, because a
// refresh token works once (RefreshToken rotates it) and two tabs sharing one would race, the
// loser presenting a used token and so revoking the whole session.
import { useSyncExternalStore } from "react";

export interface SessionUser {
  name: string;
  username: string;
  displayName: string;
  admin: boolean;
}

export interface Session {
  accessToken: string;
  /** When the access token expires, in ms since the epoch. */
  accessExpiresAt: number;
  refreshToken: string;
  user: SessionUser;
}

const KEY = "voka.session";
const listeners = new Set<() => void>();
let current: Session | null = load();

function load(): Session | null {
  try {
    const raw = globalThis.sessionStorage?.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function getSession(): Session | null {
  return current;
}

export function setSession(next: Session | null): void {
  current = next;
  if (next) globalThis.sessionStorage?.setItem(KEY, JSON.stringify(next));
  else globalThis.sessionStorage?.removeItem(KEY);
  for (const listener of listeners) listener();
}

/** Keeps the user, replaces the tokens (after a refresh). */
export function updateTokens(tokens: Omit<Session, "user">): void {
  if (current) setSession({ ...current, ...tokens });
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, getSession, getSession);
}

/** Refresh this long before the access token expires, so no call goes out with a dying one. */
export const REFRESH_MARGIN_MS = 30_000;

export function needsRefresh(session: Session, now: number = Date.now()): boolean {
  return session.accessExpiresAt - now < REFRESH_MARGIN_MS;
}
