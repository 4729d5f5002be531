import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BadRequestSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import { fieldError, problemOf } from "./errors";

function withDetails(code: Code, message: string): ConnectError {
  const badRequest = create(BadRequestSchema, {
    fieldViolations: [
      { field: "password", description: "must be at least 12 characters" },
      { field: "user.email", description: "is not an email address" },
    ],
  });
  const retry = create(RetryInfoSchema, { retryDelay: { seconds: 29n, nanos: 500_000_000 } });
  return new ConnectError(message, code, undefined, [
    { desc: BadRequestSchema, value: badRequest },
    { desc: RetryInfoSchema, value: retry },
  ]);
}

describe("problemOf", () => {
  it("puts each field violation under its field and rounds the retry delay up", () => {
    const problem = problemOf(withDetails(Code.InvalidArgument, "password is too short"));
    expect(problem.code).toBe(Code.InvalidArgument);
    expect(problem.message).toBe("password is too short");
    expect(problem.fields).toEqual({
      password: "must be at least 12 characters",
      "user.email": "is not an email address",
    });
    expect(problem.retryAfterSeconds).toBe(30);
  });

  it("finds a nested field by its last segment", () => {
    const problem = problemOf(withDetails(Code.InvalidArgument, "bad"));
    expect(fieldError(problem, "email")).toBe("is not an email address");
    expect(fieldError(problem, "username")).toBeUndefined();
    expect(fieldError(null, "email")).toBeUndefined();
  });

  it("turns anything thrown into a problem with a message", () => {
    const problem = problemOf(new Error("network down"));
    expect(problem.code).toBe(Code.Unknown);
    expect(problem.message).toBe("network down");
    expect(problem.fields).toEqual({});
  });
});
