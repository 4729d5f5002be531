// One account's activity: its figures (GetUserStats, `users/*/stats`) and its signed-in sessions
// (ListSessions) with a Revoke for each (RevokeSession). Everyone sees their own; an admin opens
// any user's from the users table. The session the console itself runs on is marked and cannot
// be revoked from here (signing out does that).
import { useCallback, useEffect, useState } from "react";
import { client } from "../api/transport";
import { AuthService, type Session, type UserStats } from "../gen/voka/auth/v1/auth_pb";
import { formatNumber, formatTime } from "../format";
import { useLanguage, useT } from "../i18n";
import { ProblemBanner, Section, useCall } from "../ui/kit";

const auth = client(AuthService);

function StatsList({ stats }: { stats: UserStats }) {
  const t = useT();
  const { language } = useLanguage();
  const rows: [string, string][] = [
    [t("admin.loginCount"), formatNumber(stats.loginCount, language)],
    [t("admin.failedLoginCount"), formatNumber(stats.failedLoginCount, language)],
    [t("admin.lastLogin"), formatTime(stats.lastLoginTime, language) || "—"],
    [t("admin.activeSessions"), formatNumber(stats.activeSessionCount, language)],
    [t("admin.activeApiKeys"), formatNumber(stats.activeApiKeyCount, language)],
  ];
  return (
    <dl className="stats" data-testid="user-stats">
      {rows.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** `user` is `users/{id}`; `title` names whose activity it is. */
export function UserActivity({ user, title }: { user: string; title: string }) {
  const t = useT();
  const { language } = useLanguage();
  const call = useCall();
  const run = call.run;
  const [stats, setStats] = useState<UserStats | null>(null);
  const [sessions, setSessions] = useState<Session[]>([]);

  const load = useCallback(
    () =>
      run(async () => {
        const [statsReply, sessionsReply] = await Promise.all([
          auth.getUserStats({ name: `${user}/stats` }),
          auth.listSessions({ parent: user, pageSize: 50 }),
        ]);
        setStats(statsReply.stats ?? null);
        setSessions(sessionsReply.sessions);
      }),
    [run, user],
  );
  useEffect(() => {
    void load();
  }, [load]);

  async function revoke(session: Session) {
    if ((await call.run(() => auth.revokeSession({ name: session.name }))) !== undefined) void load();
  }

  return (
    <Section title={title} testId="user-activity">
      <ProblemBanner problem={call.problem} testId="user-activity-problem" />
      {stats && <StatsList stats={stats} />}
      <h3>{t("admin.sessions")}</h3>
      {sessions.length === 0 ? (
        <p className="muted">{t("common.empty")}</p>
      ) : (
        <ul className="list">
          {sessions.map((session) => (
            <li key={session.name} data-testid="user-session" data-current={session.current || undefined}>
              {session.userAgent || "—"}{" "}
              <span className="muted">
                {session.lastIpAddress || session.ipAddress} · {t("admin.since")}{" "}
                {formatTime(session.createTime, language)} · {t("admin.lastUsed")}{" "}
                {formatTime(session.lastRefreshTime ?? session.createTime, language)}
              </span>{" "}
              {session.current ? (
                <strong>{t("admin.thisSession")}</strong>
              ) : (
                <button
                  type="button"
                  className="link"
                  data-testid="user-session-revoke"
                  onClick={() => void revoke(session)}
                  disabled={call.busy}
                  aria-label={t("admin.revokeSession", { agent: session.userAgent || session.name })}
                >
                  {t("admin.revoke")}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
