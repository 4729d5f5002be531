import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { problemFromRest } from "./rest";

describe("problemFromRest", () => {
  it("reads the REST error shape's field violations", () => {
    const problem = problemFromRest(
      {
        code: 3,
        message: "invalid request: file_name: too long",
        details: [{ fieldViolations: [{ field: "file_name", description: "too long" }] }, {}],
      },
      400,
    );
    expect(problem).toEqual({
      code: Code.InvalidArgument,
      message: "invalid request: file_name: too long",
      fields: { file_name: "too long" },
    });
  });

  it("falls back to the HTTP status when the body says nothing", () => {
    expect(problemFromRest({}, 502)).toEqual({ code: Code.Unknown, message: "HTTP 502", fields: {} });
  });
});
