// A starting point for a task's arguments, from its function's JSON schema (args_schema): each
// required property with a value its schema accepts, so "submit" works before any edit.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

function exampleOf(schema: JsonValue | undefined): JsonValue {
  const property = schema && typeof schema === "object" && !Array.isArray(schema) ? schema : {};
  if ("default" in property && property.default !== undefined) return property.default;
  const minimum = typeof property.minimum === "number" ? property.minimum : undefined;
  switch (property.type) {
    case "number":
      return Math.max(minimum ?? 1, 1);
    case "integer":
      return Math.max(minimum ?? 10, 10);
    case "boolean":
      return false;
    case "array":
      return [1, 2, 3];
    case "object":
      return exampleArgs(property);
    default:
      return "hola";
  }
}

export function exampleArgs(schema: JsonObject | undefined): JsonObject {
  const properties = schema?.properties;
  const required = Array.isArray(schema?.required) ? schema.required : [];
  const args: JsonObject = {};
  if (!properties || typeof properties !== "object" || Array.isArray(properties)) return args;
  for (const name of required) {
    if (typeof name === "string") args[name] = exampleOf(properties[name]);
  }
  return args;
}
