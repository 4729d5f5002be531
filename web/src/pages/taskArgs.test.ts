import { describe, expect, it } from "vitest";
import { exampleArgs } from "./taskArgs";

describe("exampleArgs", () => {
  it("fills each required property with a value of its type", () => {
    expect(
      exampleArgs({
        type: "object",
        properties: {
          seconds: { type: "number", minimum: 0, maximum: 60 },
          n: { type: "integer", minimum: 0 },
          text: { type: "string" },
          values: { type: "array", items: { type: "number" } },
          loud: { type: "boolean" },
          optional: { type: "string" },
        },
        required: ["seconds", "n", "text", "values", "loud"],
      }),
    ).toEqual({ seconds: 1, n: 10, text: "hola", values: [1, 2, 3], loud: false });
  });

  it("answers an empty object for a function without arguments or schema", () => {
    expect(exampleArgs({ type: "object", additionalProperties: false })).toEqual({});
    expect(exampleArgs(undefined)).toEqual({});
  });
});
