// Tasks: submit one (a function from the catalogue, JSON arguments), follow it live (WatchTask,
// a server stream) until it ends, the recent list and metrics pushed by StreamTaskUpdates (Server-
// Sent Events, no polling; the dead letters are re-read when the list changes), and the dead
// letters with a retry each.
import { fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { followEvents } from "../api/eventStream";
import { client } from "../api/transport";
import { fieldError, isAborted, problemOf, type Problem } from "../api/errors";
import {
  type DeadLetter,
  type Task,
  type TaskFunction,
  type TaskMetrics,
  TaskMetricsSchema,
  TaskSchema,
  TaskState,
  TasksService,
} from "../gen/voka/tasks/v1/tasks_pb";
import { enumLabel, formatNumber, formatTime } from "../format";
import { useLanguage, useT } from "../i18n";
import { ProblemBanner, Section, Select, useCall } from "../ui/kit";
import { exampleArgs } from "./taskArgs";

const tasks = client(TasksService);

const UPDATES_PATH = "/api/v1/tasks:updates?pageSize=20";
const FINAL = new Set([TaskState.SUCCEEDED, TaskState.DEAD_LETTERED, TaskState.CANCELLED]);

function parseArgs(text: string): JsonObject | null {
  try {
    const value: unknown = JSON.parse(text || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : null;
  } catch {
    return null;
  }
}

export function TasksPage() {
  const t = useT();
  const { language } = useLanguage();
  const [functions, setFunctions] = useState<TaskFunction[]>([]);
  const [functionName, setFunctionName] = useState("");
  const [args, setArgs] = useState("{}");
  const [argsError, setArgsError] = useState<string | undefined>();
  const [watched, setWatched] = useState<Record<string, Task>>({});
  const [recent, setRecent] = useState<Task[]>([]);
  const [metrics, setMetrics] = useState<TaskMetrics | null>(null);
  const [deadLetters, setDeadLetters] = useState<DeadLetter[]>([]);
  const [watchProblem, setWatchProblem] = useState<Problem | null>(null);
  const [live, setLive] = useState(false);
  const submit = useCall();
  const side = useCall();
  const sideRun = side.run;
  const streams = useRef(new Set<AbortController>());

  const refreshDeadLetters = useCallback(
    () =>
      sideRun(async () => {
        const dead = await tasks.listDeadLetters({ pageSize: 20 });
        setDeadLetters(dead.deadLetters);
      }),
    [sideRun],
  );

  const onUpdate = useCallback(
    (name: string, data: unknown) => {
      const options = { ignoreUnknownFields: true };
      if (name === "tasks") {
        const page = (data as { tasks?: JsonValue[] }).tasks ?? [];
        setRecent(page.map((task) => fromJson(TaskSchema, task, options)));
        void refreshDeadLetters();
      } else if (name === "metrics") {
        setMetrics(fromJson(TaskMetricsSchema, data as JsonValue, options));
      }
    },
    [refreshDeadLetters],
  );

  useEffect(() => {
    const open = streams.current;
    void sideRun(async () => {
      const reply = await tasks.listTaskFunctions({ pageSize: 100 });
      setFunctions(reply.taskFunctions);
      const first = reply.taskFunctions[0];
      if (first) choose(first);
    });
    const updates = new AbortController();
    void followEvents(UPDATES_PATH, {
      onEvent: onUpdate,
      onOpen: setLive,
      onProblem: setWatchProblem,
      signal: updates.signal,
    });
    return () => {
      updates.abort();
      for (const controller of open) controller.abort();
    };
  }, [sideRun, onUpdate]);

  function choose(chosen: TaskFunction) {
    setFunctionName(chosen.functionName);
    setArgs(JSON.stringify(exampleArgs(chosen.argsSchema)));
    setArgsError(undefined);
  }

  const watch = useCallback(async (name: string) => {
    const controller = new AbortController();
    streams.current.add(controller);
    try {
      for await (const reply of tasks.watchTask({ name }, { signal: controller.signal })) {
        const task = reply.task;
        if (!task) continue;
        setWatched((all) => ({ ...all, [task.name]: task }));
        if (FINAL.has(task.state)) break;
      }
    } catch (error) {
      if (!isAborted(error)) setWatchProblem(problemOf(error));
    } finally {
      streams.current.delete(controller);
    }
  }, []);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    const parsed = parseArgs(args);
    setArgsError(parsed ? undefined : t("tasks.argsInvalid"));
    if (!parsed) return;
    const reply = await submit.run(() =>
      tasks.submitTask({ functionName, arguments: { case: "args", value: parsed } }),
    );
    if (reply) void watch(reply.name);
  }

  async function retry(name: string) {
    const reply = await side.run(() => tasks.retryDeadLetter({ name }));
    if (reply?.task) void watch(reply.task.name);
  }

  const described = functions.find((f) => f.functionName === functionName);
  const watchedTasks = Object.values(watched).reverse();

  return (
    <div className="page" data-testid="tasks-page">
      <h1>{t("nav.tasks")}</h1>
      <form className="card" onSubmit={onSubmit} aria-label={t("tasks.submit")}>
        <ProblemBanner problem={submit.problem} testId="tasks-problem" />
        <Select
          label={t("tasks.function")}
          value={functionName}
          testId="tasks-function"
          onChange={(name) => {
            const chosen = functions.find((f) => f.functionName === name);
            if (chosen) choose(chosen);
          }}
          error={fieldError(submit.problem, "function_name")}
        >
          {functions.map((f) => (
            <option key={f.functionName} value={f.functionName}>
              {f.functionName}
            </option>
          ))}
        </Select>
        {described?.description && <p className="muted">{described.description}</p>}
        <div className="field">
          <label htmlFor="tasks-args">{t("tasks.args")}</label>
          <textarea
            id="tasks-args"
            data-testid="tasks-args"
            rows={3}
            value={args}
            onChange={(e) => setArgs(e.target.value)}
            aria-invalid={argsError || fieldError(submit.problem, "args") ? true : undefined}
            aria-describedby="tasks-args-error"
          />
          {(argsError || fieldError(submit.problem, "args")) && (
            <p id="tasks-args-error" className="field-error" data-testid="tasks-args-error">
              {argsError || fieldError(submit.problem, "args")}
            </p>
          )}
        </div>
        <button type="submit" disabled={submit.busy || !functionName} data-testid="tasks-submit">
          {t("tasks.submit")}
        </button>
      </form>
      <ProblemBanner problem={watchProblem ?? side.problem} testId="tasks-side-problem" />
      {watchedTasks.length > 0 && (
        <Section title={t("tasks.submitted")} testId="tasks-watched">
          <ul className="list">
            {watchedTasks.map((task) => (
              <li key={task.name} data-testid="tasks-watched-item" data-state={TaskState[task.state]}>
                <code>{task.name}</code> · {task.functionName} ·{" "}
                <strong data-testid="tasks-watched-state">{enumLabel(TaskState, task.state)}</strong>
                {task.output.case === "result" && (
                  <div className="muted" data-testid="tasks-watched-result">
                    {JSON.stringify(toJson(ValueSchema, task.output.value))}
                  </div>
                )}
                {task.lastError && <div className="field-error">{task.lastError.message}</div>}
              </li>
            ))}
          </ul>
        </Section>
      )}
      <Section title={t("tasks.metrics")} testId="tasks-metrics">
        {metrics && (
          <dl className="stats">
            <dt>{t("tasks.queued")}</dt>
            <dd data-testid="metrics-queued">{formatNumber(metrics.queuedTotal, language)}</dd>
            <dt>{t("tasks.running")}</dt>
            <dd data-testid="metrics-running">{formatNumber(metrics.runningTotal, language)}</dd>
            <dt>{t("tasks.completedPerSecond")}</dt>
            <dd>{formatNumber(Math.round(metrics.completedPerSecond * 100) / 100, language)}</dd>
            <dt>{t("tasks.deadLetters")}</dt>
            <dd data-testid="metrics-dead">{formatNumber(metrics.deadLetterSize, language)}</dd>
          </dl>
        )}
      </Section>
      <Section title={t("tasks.recent")} testId="tasks-recent">
        <p className="muted" data-testid="tasks-live" data-live={live ? "open" : "down"} aria-live="polite">
          {live ? t("tasks.live") : t("tasks.reconnecting")}
        </p>
        <table>
          <thead>
            <tr>
              <th>{t("tasks.name")}</th>
              <th>{t("tasks.function")}</th>
              <th>{t("tasks.state")}</th>
              <th>{t("tasks.created")}</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((task) => (
              <tr key={task.name} data-testid="tasks-row" data-state={TaskState[task.state]}>
                <td>
                  <code>{task.name}</code>
                </td>
                <td>{task.functionName}</td>
                <td>{enumLabel(TaskState, task.state)}</td>
                <td>{formatTime(task.createTime, language)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title={t("tasks.deadLetters")} testId="tasks-dead-letters">
        {deadLetters.length === 0 ? (
          <p className="muted">{t("common.empty")}</p>
        ) : (
          <ul className="list">
            {deadLetters.map((letter) => (
              <li key={letter.name} data-testid="dead-letter">
                <code>{letter.task}</code> · {letter.functionName} · {letter.lastError?.message}
                <button
                  type="button"
                  data-testid="dead-letter-retry"
                  onClick={() => void retry(letter.name)}
                  aria-label={t("tasks.retryNamed", { name: letter.task })}
                >
                  {t("tasks.retry")}
                </button>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </div>
  );
}
