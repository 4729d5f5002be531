// Routing on the URL's fragment (`/#/translate`): Envoy serves the one page at `/`, and no
// console path can ever shadow an API path (LibreTranslate's `/translate`, `/v1/...`).
import { useSyncExternalStore } from "react";

export const ROUTES = [
  "signin",
  "signup",
  "translate",
  "chat",
  "tasks",
  "speech",
  "voice",
  "meetings",
  "admin",
  "kinect",
  "vision",
] as const;
export type Route = (typeof ROUTES)[number];

export function parseRoute(hash: string): Route | null {
  const name = hash.replace(/^#\/?/, "").split(/[/?]/)[0] ?? "";
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : null;
}

function subscribe(listener: () => void): () => void {
  globalThis.addEventListener("hashchange", listener);
  return () => globalThis.removeEventListener("hashchange", listener);
}

const currentHash = () => globalThis.location?.hash ?? "";

export function useRoute(): Route | null {
  return parseRoute(useSyncExternalStore(subscribe, currentHash, currentHash));
}

export function navigate(route: Route): void {
  globalThis.location.hash = `#/${route}`;
}

export function href(route: Route): string {
  return `#/${route}`;
}
