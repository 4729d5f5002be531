// Figures as people read them, in the UI's language.
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";

export function durationMs(duration: Duration | undefined): number {
  if (!duration) return 0;
  return Number(duration.seconds) * 1000 + duration.nanos / 1e6;
}

export function formatMs(ms: number, language: string): string {
  const unit = ms >= 1000 ? { value: ms / 1000, unit: "second" } : { value: ms, unit: "millisecond" };
  return new Intl.NumberFormat(language, {
    style: "unit",
    unit: unit.unit,
    unitDisplay: "short",
    maximumFractionDigits: unit.unit === "second" ? 2 : 0,
  }).format(unit.value);
}

export function formatTime(timestamp: Timestamp | undefined, language: string): string {
  if (!timestamp) return "";
  return new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "medium" }).format(
    timestampDate(timestamp),
  );
}

export function formatNumber(value: number | bigint, language: string): string {
  return new Intl.NumberFormat(language).format(value);
}

/** `TASK_STATE_SUCCEEDED` style enum names for the screen: `SUCCEEDED`. */
export function enumLabel(names: Record<number, string>, value: number): string {
  return names[value] ?? String(value);
}
