// API errors as the console shows them: the status message, and each google.rpc.BadRequest
// field violation under the field it names (`text`, `user.email`, ...).
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";

export interface Problem {
  code: Code;
  message: string;
  /** Field path (as the contract names it, snake_case) -> what is wrong with it. */
  fields: Record<string, string>;
  /** From RetryInfo (rate limits, locked accounts), in whole seconds. */
  retryAfterSeconds?: number;
}

export function problemOf(error: unknown): Problem {
  const connect = ConnectError.from(error);
  const fields: Record<string, string> = {};
  for (const detail of connect.findDetails(BadRequestSchema)) {
    for (const violation of detail.fieldViolations) {
      fields[violation.field] = violation.description;
    }
  }
  const problem: Problem = { code: connect.code, message: connect.rawMessage, fields };
  const [retry] = connect.findDetails(RetryInfoSchema);
  if (retry?.retryDelay) {
    const { seconds, nanos } = retry.retryDelay;
    problem.retryAfterSeconds = Math.max(1, Math.ceil(Number(seconds) + nanos / 1e9));
  }
  return problem;
}

/** The message for a form field: its own violation, or one of a nested path under it. */
export function fieldError(problem: Problem | null, ...names: string[]): string | undefined {
  if (!problem) return undefined;
  for (const name of names) {
    const exact = problem.fields[name];
    if (exact) return exact;
    const nested = Object.entries(problem.fields).find(([field]) => field.endsWith(`.${name}`));
    if (nested) return nested[1];
  }
  return undefined;
}

export function isAborted(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Canceled;
}
