// The few calls the console makes over REST instead of gRPC-Web, each for a reason:
// UploadRecording is a client stream (gRPC-Web carries none), and OpsService, served by every
// domain, has no gRPC route at the edge of its own, only its REST bindings. Replies are parsed
// with the generated schemas, error answers ({code, message, details}) become Problems.
import { fromJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Problem } from "./errors";
import { accessToken } from "./transport";

interface RestError {
  code?: number;
  message?: string;
  details?: { fieldViolations?: { field: string; description: string }[] }[];
}

export class RestProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}

export function problemFromRest(body: RestError, status: number): Problem {
  const fields: Record<string, string> = {};
  for (const detail of body.details ?? []) {
    for (const violation of detail.fieldViolations ?? []) fields[violation.field] = violation.description;
  }
  return {
    code: (body.code as Code | undefined) ?? Code.Unknown,
    message: body.message || `HTTP ${status}`,
    fields,
  };
}

export async function restCall<Desc extends DescMessage>(
  schema: Desc,
  path: string,
  init: { method?: string; body?: BodyInit; contentType?: string } = {},
): Promise<MessageShape<Desc>> {
  const token = await accessToken();
  const reply = await fetch(path, {
    method: init.method ?? "GET",
    body: init.body ?? null,
    headers: {
      ...(init.contentType ? { "content-type": init.contentType } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  });
  const body = (await reply.json()) as JsonValue;
  if (!reply.ok) throw new RestProblem(problemFromRest(body as RestError, reply.status));
  return fromJson(schema, body, { ignoreUnknownFields: true });
}
