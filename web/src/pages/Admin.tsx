// Account and administration: everyone manages their own API keys and sees their own sign-in
// figures and sessions (UserActivity.tsx); admins also see the mesh's health, the users (role,
// disable/enable, each one's figures and sessions), the audit log and the task webhooks (create, edit,
// switch on/off, delete, and each one's deliveries).
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError, problemOf, type Problem } from "../api/errors";
import { RestProblem, restCall } from "../api/rest";
import { useSession } from "../api/session";
import {
  type ApiKey,
  ApiKeyState,
  type AuditEvent,
  AuditEventType,
  AuthService,
  Role,
  type User,
  UserState,
} from "../gen/voka/auth/v1/auth_pb";
import { GetMeshHealthResponseSchema, ServingStatus, type ServiceReport } from "../gen/voka/ops/v1/ops_pb";
import {
  TasksService,
  type Webhook,
  type WebhookDelivery,
  WebhookDeliveryState,
} from "../gen/voka/tasks/v1/tasks_pb";
import { durationMs, enumLabel, formatMs, formatTime } from "../format";
import { useLanguage, useT } from "../i18n";
import { EditForm, Field, ProblemBanner, Section, useCall } from "../ui/kit";
import { UserActivity } from "./UserActivity";

const auth = client(AuthService);
const tasks = client(TasksService);

const ROLES = [Role.USER, Role.OPERATOR, Role.ADMIN];

function ApiKeys({ owner }: { owner: string }) {
  const t = useT();
  const { language } = useLanguage();
  const call = useCall();
  const run = call.run;
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [name, setName] = useState("");
  const [secret, setSecret] = useState("");

  const load = useCallback(
    () => run(async () => setKeys((await auth.listApiKeys({ parent: owner, pageSize: 50 })).apiKeys)),
    [run, owner],
  );
  useEffect(() => {
    void load();
  }, [load]);

  async function create(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() => auth.createApiKey({ parent: owner, apiKey: { displayName: name } }));
    if (reply) {
      setSecret(reply.secret);
      setName("");
      void load();
    }
  }

  async function revoke(key: ApiKey) {
    await call.run(() => auth.revokeApiKey({ name: key.name }));
    void load();
  }

  return (
    <Section title={t("admin.apiKeys")} testId="admin-api-keys">
      <ProblemBanner problem={call.problem} testId="admin-api-keys-problem" />
      <form className="row" onSubmit={create}>
        <Field
          label={t("admin.keyName")}
          testId="admin-key-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(call.problem, "display_name")}
        />
        <button type="submit" data-testid="admin-key-create" disabled={call.busy}>
          {t("meetings.create")}
        </button>
      </form>
      {secret && (
        <p className="result" data-testid="admin-key-secret">
          {t("admin.keySecret")} <code>{secret}</code>
        </p>
      )}
      <ul className="list">
        {keys.map((key) => (
          <li key={key.name} data-testid="admin-key">
            {key.displayName} <code>{key.keyPrefix}…</code>{" "}
            <span className="muted">
              {enumLabel(ApiKeyState, key.state)} · {formatTime(key.createTime, language)}
            </span>{" "}
            {key.state === ApiKeyState.ACTIVE && (
              <button
                type="button"
                className="link"
                onClick={() => void revoke(key)}
                aria-label={t("admin.revokeNamed", { name: key.displayName })}
              >
                {t("admin.revoke")}
              </button>
            )}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function MeshHealth() {
  const t = useT();
  const { language } = useLanguage();
  const [services, setServices] = useState<ServiceReport[]>([]);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    restCall(GetMeshHealthResponseSchema, "/api/v1/health").then(
      (reply) => setServices(reply.services),
      (error: unknown) => setProblem(error instanceof RestProblem ? error.problem : problemOf(error)),
    );
  }, []);
  return (
    <Section title={t("admin.health")} testId="admin-health">
      <ProblemBanner problem={problem} testId="admin-health-problem" />
      <table>
        <thead>
          <tr>
            <th>{t("admin.service")}</th>
            <th>{t("tasks.state")}</th>
            <th>{t("admin.uptime")}</th>
            <th>{t("admin.dependencies")}</th>
          </tr>
        </thead>
        <tbody>
          {services.map((report) => (
            <tr
              key={report.service}
              data-testid="admin-health-service"
              data-status={report.health ? ServingStatus[report.health.status] : "ERROR"}
            >
              <td>{report.service}</td>
              <td>{report.health ? enumLabel(ServingStatus, report.health.status) : report.error}</td>
              <td>{formatMs(durationMs(report.health?.uptime), language)}</td>
              <td>{report.health?.dependencies.map((d) => `${d.name} ${d.ok ? "✓" : "✗"}`).join(" · ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function Users() {
  const t = useT();
  const call = useCall();
  const run = call.run;
  const [users, setUsers] = useState<User[]>([]);
  const [query, setQuery] = useState("");
  const [shown, setShown] = useState<User | null>(null);

  const load = useCallback(
    (search: string) =>
      run(async () => setUsers((await auth.listUsers({ pageSize: 50, query: search })).users)),
    [run],
  );
  useEffect(() => {
    void load("");
  }, [load]);

  async function change(action: () => Promise<unknown>) {
    await call.run(action);
    void load(query);
  }

  return (
    <Section title={t("admin.users")} testId="admin-users">
      <ProblemBanner problem={call.problem} testId="admin-users-problem" />
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void load(query);
        }}
      >
        <Field
          label={t("meetings.search")}
          testId="admin-users-query"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <button type="submit" data-testid="admin-users-search">
          {t("meetings.search")}
        </button>
      </form>
      <table>
        <thead>
          <tr>
            <th>{t("auth.username")}</th>
            <th>{t("auth.email")}</th>
            <th>{t("admin.role")}</th>
            <th>{t("tasks.state")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.name} data-testid="admin-user" data-username={user.username}>
              <td>{user.username}</td>
              <td>{user.email}</td>
              <td>
                <select
                  aria-label={t("admin.roleOf", { name: user.username })}
                  value={user.role}
                  data-testid="admin-user-role"
                  onChange={(e) =>
                    void change(() => auth.setUserRole({ name: user.name, role: Number(e.target.value) }))
                  }
                >
                  {ROLES.map((role) => (
                    <option key={role} value={role}>
                      {enumLabel(Role, role)}
                    </option>
                  ))}
                </select>
              </td>
              <td>{enumLabel(UserState, user.state)}</td>
              <td>
                {user.state === UserState.DISABLED ? (
                  <button
                    type="button"
                    className="link"
                    data-testid="admin-user-enable"
                    onClick={() => void change(() => auth.enableUser({ name: user.name }))}
                  >
                    {t("admin.enable")}
                  </button>
                ) : (
                  <button
                    type="button"
                    className="link"
                    data-testid="admin-user-disable"
                    onClick={() =>
                      void change(() => auth.disableUser({ name: user.name, reason: "admin console" }))
                    }
                  >
                    {t("admin.disable")}
                  </button>
                )}{" "}
                <button
                  type="button"
                  className="link"
                  data-testid="admin-user-activity"
                  aria-expanded={shown?.name === user.name}
                  onClick={() => setShown(shown?.name === user.name ? null : user)}
                >
                  {t("admin.activity")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown && (
        <UserActivity
          key={shown.name}
          user={shown.name}
          title={t("admin.activityOf", { name: shown.username })}
        />
      )}
    </Section>
  );
}

function AuditLog() {
  const t = useT();
  const { language } = useLanguage();
  const call = useCall();
  const run = call.run;
  const [events, setEvents] = useState<AuditEvent[]>([]);
  useEffect(() => {
    void run(async () => setEvents((await auth.listAuditEvents({ pageSize: 50 })).auditEvents));
  }, [run]);
  return (
    <Section title={t("admin.audit")} testId="admin-audit">
      <ProblemBanner problem={call.problem} testId="admin-audit-problem" />
      <table>
        <thead>
          <tr>
            <th>{t("tasks.created")}</th>
            <th>{t("admin.event")}</th>
            <th>{t("admin.who")}</th>
            <th>IP</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.name} data-testid="admin-audit-event">
              <td>{formatTime(event.eventTime, language)}</td>
              <td>{enumLabel(AuditEventType, event.type)}</td>
              <td>{event.login || event.user || event.actor}</td>
              <td>{event.ipAddress}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function subjectList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** One webhook: its target and subjects edited in place (UpdateWebhook with a field mask),
 * switched on or off, deleted, and its recent deliveries on demand. */
function WebhookItem({ hook, onChanged }: { hook: Webhook; onChanged: () => void }) {
  const t = useT();
  const { language } = useLanguage();
  const call = useCall();
  const [editing, setEditing] = useState(false);
  const [uri, setUri] = useState(hook.targetUri);
  const [subjects, setSubjects] = useState(hook.eventSubjects.join(", "));
  const [deliveries, setDeliveries] = useState<WebhookDelivery[] | null>(null);

  async function save(event: FormEvent) {
    event.preventDefault();
    const webhook = { name: hook.name, targetUri: uri, eventSubjects: subjectList(subjects) };
    const reply = await call.run(() =>
      tasks.updateWebhook({ webhook, updateMask: { paths: ["target_uri", "event_subjects"] } }),
    );
    if (reply?.webhook) {
      setEditing(false);
      onChanged();
    }
  }

  async function toggle() {
    const webhook = { name: hook.name, active: !hook.active };
    if (await call.run(() => tasks.updateWebhook({ webhook, updateMask: { paths: ["active"] } })))
      onChanged();
  }

  async function remove() {
    if (!globalThis.confirm(t("admin.webhookDeleteConfirm", { uri: hook.targetUri }))) return;
    if (await call.run(() => tasks.deleteWebhook({ name: hook.name }))) onChanged();
  }

  async function showDeliveries() {
    const reply = await call.run(() => tasks.listWebhookDeliveries({ parent: hook.name, pageSize: 20 }));
    if (reply) setDeliveries(reply.deliveries);
  }

  return (
    <li data-testid="admin-webhook" data-name={hook.name}>
      <ProblemBanner problem={call.problem} testId="admin-webhook-problem" />
      {editing ? (
        <EditForm
          label={t("admin.webhookEdit")}
          fields={[
            {
              label: t("admin.targetUri"),
              testId: "admin-webhook-edit-uri",
              value: uri,
              onChange: setUri,
              error: fieldError(call.problem, "target_uri"),
            },
            {
              label: t("admin.subjects"),
              testId: "admin-webhook-edit-subjects",
              value: subjects,
              onChange: setSubjects,
              error: fieldError(call.problem, "event_subjects"),
            },
          ]}
          busy={call.busy}
          saveTestId="admin-webhook-save"
          onSubmit={(event) => void save(event)}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <>
          <code>{hook.targetUri}</code>{" "}
          <span
            className="muted"
            data-testid="admin-webhook-state"
            data-active={hook.active ? "true" : "false"}
          >
            {hook.eventSubjects.join(", ")} · {hook.active ? t("admin.webhookOn") : t("admin.webhookOff")}
          </span>{" "}
          <button type="button" data-testid="admin-webhook-edit" onClick={() => setEditing(true)}>
            {t("common.edit")}
          </button>
          <button
            type="button"
            data-testid="admin-webhook-toggle"
            onClick={() => void toggle()}
            disabled={call.busy}
          >
            {hook.active ? t("admin.webhookSwitchOff") : t("admin.webhookSwitchOn")}
          </button>
          <button
            type="button"
            data-testid="admin-webhook-delete"
            onClick={() => void remove()}
            disabled={call.busy}
          >
            {t("common.delete")}
          </button>
          <button type="button" data-testid="admin-webhook-deliveries" onClick={() => void showDeliveries()}>
            {t("admin.webhookDeliveries")}
          </button>
        </>
      )}
      {deliveries &&
        (deliveries.length === 0 ? (
          <p className="muted" data-testid="admin-webhook-no-deliveries">
            {t("common.empty")}
          </p>
        ) : (
          <table data-testid="admin-webhook-delivery-table">
            <thead>
              <tr>
                <th>{t("admin.when")}</th>
                <th>{t("admin.subjects")}</th>
                <th>{t("tasks.state")}</th>
                <th>{t("admin.webhookResponse")}</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((delivery) => (
                <tr key={delivery.name} data-testid="admin-webhook-delivery">
                  <td>{formatTime(delivery.createTime, language)}</td>
                  <td>{delivery.eventSubject}</td>
                  <td>{enumLabel(WebhookDeliveryState, delivery.state)}</td>
                  <td>{delivery.responseCode || delivery.lastError || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </li>
  );
}

function Webhooks() {
  const t = useT();
  const call = useCall();
  const run = call.run;
  const [hooks, setHooks] = useState<Webhook[]>([]);
  const [uri, setUri] = useState("");
  const [subjects, setSubjects] = useState("voka.tasks.task.succeeded");
  const [secret, setSecret] = useState("");

  const load = useCallback(
    () => run(async () => setHooks((await tasks.listWebhooks({ pageSize: 50 })).webhooks)),
    [run],
  );
  useEffect(() => {
    void load();
  }, [load]);

  async function create(event: FormEvent) {
    event.preventDefault();
    const eventSubjects = subjectList(subjects);
    const reply = await call.run(() => tasks.createWebhook({ webhook: { targetUri: uri, eventSubjects } }));
    if (reply?.webhook) {
      setSecret(reply.webhook.secret);
      setUri("");
      void load();
    }
  }

  return (
    <Section title={t("admin.webhooks")} testId="admin-webhooks">
      <ProblemBanner problem={call.problem} testId="admin-webhooks-problem" />
      <form className="row" onSubmit={create}>
        <Field
          label={t("admin.targetUri")}
          testId="admin-webhook-uri"
          value={uri}
          onChange={(e) => setUri(e.target.value)}
          error={fieldError(call.problem, "target_uri")}
        />
        <Field
          label={t("admin.subjects")}
          testId="admin-webhook-subjects"
          value={subjects}
          onChange={(e) => setSubjects(e.target.value)}
          error={fieldError(call.problem, "event_subjects")}
        />
        <button type="submit" data-testid="admin-webhook-create" disabled={call.busy}>
          {t("meetings.create")}
        </button>
      </form>
      {secret && (
        <p className="result" data-testid="admin-webhook-secret">
          {t("admin.webhookSecret")} <code>{secret}</code>
        </p>
      )}
      <ul className="list">
        {hooks.map((hook) => (
          <WebhookItem
            key={`${hook.name}-${hook.updateTime?.seconds ?? 0}`}
            hook={hook}
            onChanged={() => void load()}
          />
        ))}
      </ul>
    </Section>
  );
}

export function AdminPage() {
  const t = useT();
  const session = useSession();
  if (!session) return null;
  return (
    <div className="page" data-testid="admin-page">
      <h1>{t("nav.admin")}</h1>
      <ApiKeys owner={session.user.name} />
      <UserActivity user={session.user.name} title={t("admin.myActivity")} />
      {session.user.admin && (
        <>
          <MeshHealth />
          <Users />
          <AuditLog />
          <Webhooks />
        </>
      )}
    </div>
  );
}
