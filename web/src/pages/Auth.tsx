// Sign in and sign up. A refused login (wrong password, locked account, 429) shows the API's
// message; a refused registration shows each field's violation under that field.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError } from "../api/errors";
import { setSession } from "../api/session";
import { AuthService, type LoginResponse, Role } from "../gen/voka/auth/v1/auth_pb";
import { useLanguage, useT } from "../i18n";
import { href, navigate } from "../router";
import { Field, ProblemBanner, useCall } from "../ui/kit";

const auth = client(AuthService);

function startSession(reply: LoginResponse): void {
  const user = reply.user;
  setSession({
    accessToken: reply.accessToken,
    accessExpiresAt: reply.accessTokenExpireTime
      ? timestampMs(reply.accessTokenExpireTime)
      : Date.now() + 60_000,
    refreshToken: reply.refreshToken,
    user: {
      name: user?.name ?? "",
      username: user?.username ?? "",
      displayName: user?.displayName || user?.username || "",
      admin: user?.role === Role.ADMIN,
    },
  });
  navigate("translate");
}

export function SignIn() {
  const t = useT();
  const { busy, problem, run } = useCall();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    const reply = await run(() => auth.login({ username, password }));
    if (reply) startSession(reply);
  }

  return (
    <form className="card narrow" onSubmit={submit} aria-labelledby="signin-title" data-testid="signin-form">
      <h1 id="signin-title">{t("auth.signIn")}</h1>
      <ProblemBanner problem={problem} testId="signin-problem" />
      <Field
        label={t("auth.username")}
        testId="signin-username"
        autoComplete="username"
        required
        value={username}
        onChange={(e) => setUsername(e.target.value)}
        error={fieldError(problem, "username")}
      />
      <Field
        label={t("auth.password")}
        testId="signin-password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={fieldError(problem, "password")}
      />
      <button type="submit" disabled={busy} data-testid="signin-submit">
        {t("auth.signIn")}
      </button>
      <p>
        {t("auth.noAccount")}{" "}
        <a href={href("signup")} data-testid="goto-signup">
          {t("auth.signUp")}
        </a>
      </p>
    </form>
  );
}

export function SignUp() {
  const t = useT();
  const { language } = useLanguage();
  const { busy, problem, run } = useCall();
  const [form, setForm] = useState({ username: "", email: "", password: "", displayName: "" });
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [key]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    const reply = await run(async () => {
      await auth.register({ ...form, languageCode: language });
      return auth.login({ username: form.username, password: form.password });
    });
    if (reply) startSession(reply);
  }

  return (
    <form className="card narrow" onSubmit={submit} aria-labelledby="signup-title" data-testid="signup-form">
      <h1 id="signup-title">{t("auth.signUp")}</h1>
      <ProblemBanner problem={problem} testId="signup-problem" />
      <Field
        label={t("auth.username")}
        testId="signup-username"
        autoComplete="username"
        required
        value={form.username}
        onChange={set("username")}
        error={fieldError(problem, "username")}
      />
      <Field
        label={t("auth.email")}
        testId="signup-email"
        type="email"
        autoComplete="email"
        required
        value={form.email}
        onChange={set("email")}
        error={fieldError(problem, "email")}
      />
      <Field
        label={t("auth.displayName")}
        testId="signup-display-name"
        autoComplete="name"
        value={form.displayName}
        onChange={set("displayName")}
        error={fieldError(problem, "display_name")}
      />
      <Field
        label={t("auth.password")}
        testId="signup-password"
        type="password"
        autoComplete="new-password"
        required
        value={form.password}
        onChange={set("password")}
        error={fieldError(problem, "password")}
      />
      <button type="submit" disabled={busy} data-testid="signup-submit">
        {t("auth.signUp")}
      </button>
      <p>
        {t("auth.haveAccount")}{" "}
        <a href={href("signin")} data-testid="goto-signin">
          {t("auth.signIn")}
        </a>
      </p>
    </form>
  );
}

/** Revokes the refresh token's session on the server, then forgets it here whatever happens. */
export async function signOut(refreshToken: string): Promise<void> {
  try {
    await auth.logout({ refreshToken });
  } finally {
    setSession(null);
    navigate("signin");
  }
}
