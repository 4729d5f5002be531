// The console's own client code (generated client, gRPC-Web transport, token refresh, error
// mapping) against the real mesh behind Envoy, as the pages use it. Needs VOKA_URL.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";

declare const process: { env: Record<string, string | undefined> };
const url = process.env.VOKA_URL;
if (!url) throw new Error("VOKA_URL must name the mesh's Envoy, e.g. http://127.0.0.1:8080");
// The transport talks to its page's origin; here that is the mesh.
(globalThis as unknown as { location: { origin: string } }).location = { origin: url };

const { client } = await import("../api/transport");
const { getSession, setSession } = await import("../api/session");
const { problemOf } = await import("../api/errors");
const { AuthService } = await import("../gen/voka/auth/v1/auth_pb");
const { TranslateService } = await import("../gen/voka/translate/v1/translate_pb");
const { AssistantService } = await import("../gen/voka/assistant/v1/assistant_pb");
const { TasksService, TaskState } = await import("../gen/voka/tasks/v1/tasks_pb");

const auth = client(AuthService);
const translate = client(TranslateService);
const assistant = client(AssistantService);
const tasks = client(TasksService);
const password = "pw-long-enough-123456";

async function signUp(): Promise<void> {
  const username = `web${Date.now()}${Math.floor(Math.random() * 1000)}`;
  await auth.register({ username, email: `${username}@example.com`, password });
  const login = await auth.login({ username, password });
  setSession({
    accessToken: login.accessToken,
    accessExpiresAt: timestampMs(login.accessTokenExpireTime!),
    refreshToken: login.refreshToken,
    user: { name: login.user!.name, username, displayName: username, admin: false },
  });
}

beforeAll(signUp);

describe("the console's client against the mesh", () => {
  it("shows a registration's field violations under their fields", async () => {
    const refused = await auth
      .register({ username: "x", email: "not-an-email", password: "short" })
      .catch(problemOf);
    expect(refused).toMatchObject({ code: Code.InvalidArgument });
    expect(Object.keys((refused as { fields: object }).fields)).toContain("password");
  });

  it("answers a wrong password with UNAUTHENTICATED and its message", async () => {
    const refused = await auth
      .login({ username: "nobody-at-all", password: "wrong-password" })
      .catch(problemOf);
    expect(refused).toMatchObject({ code: Code.Unauthenticated, message: "wrong username or password" });
  });

  it("refreshes a token about to expire before the call, and a refused one after it", async () => {
    const before = getSession()!;
    setSession({ ...before, accessExpiresAt: Date.now() });
    await translate.listLanguages({});
    const refreshed = getSession()!;
    expect(refreshed.refreshToken).not.toBe(before.refreshToken);
    setSession({ ...refreshed, accessToken: "not-a-token", accessExpiresAt: Date.now() + 3_600_000 });
    await translate.listLanguages({});
    expect(getSession()!.accessToken).not.toBe("not-a-token");
  });

  it("translates with detection and finds it in the history", async () => {
    const reply = await translate.translateText({ text: "Hola, ¿cómo estás?", targetLanguageCode: "en" });
    expect(reply.translatedText).not.toBe("");
    expect(reply.detectedLanguage?.languageCode).toBe("es");
    const history = await translate.listTranslations({ pageSize: 5 });
    expect(history.translations.map((t) => t.name)).toContain(reply.translation);
  });

  it("streams the reply's tokens before it is complete", async () => {
    const events: string[] = [];
    for await (const reply of assistant.streamReply({ message: "Hola Vicky" }))
      events.push(reply.event.case ?? "");
    expect(events[0]).toBe("started");
    expect(events.filter((e) => e === "delta").length).toBeGreaterThan(1);
    expect(events.indexOf("delta")).toBeLessThan(events.indexOf("completed"));
  });

  it("follows a submitted task to SUCCEEDED over WatchTask", async () => {
    const submitted = await tasks.submitTask({
      functionName: "math.add",
      arguments: { case: "args", value: { a: 2, b: 3 } },
    });
    let last = TaskState.UNSPECIFIED;
    for await (const reply of tasks.watchTask({ name: submitted.name })) {
      last = reply.task?.state ?? last;
      if (last === TaskState.SUCCEEDED || last === TaskState.DEAD_LETTERED) break;
    }
    expect(TaskState[last]).toBe("SUCCEEDED");
  });
});
