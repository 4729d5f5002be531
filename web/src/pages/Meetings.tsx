// Meetings: clients, their projects, the projects' meetings (with the Jitsi room; edited, deleted
// and their participants managed in MeetingEditing.tsx), a recording upload whose transcript and
// summary appear when the pipeline has made them (the meeting is polled while either is
// pending), the project chat (answers streamed with their citations) and search over everything.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError, isAborted, problemOf, type Problem } from "../api/errors";
import { RestProblem, restCall } from "../api/rest";
import type { Client } from "../gen/voka/meetings/v1/client_pb";
import type { SearchResult } from "../gen/voka/meetings/v1/knowledge_pb";
import {
  ProcessingState,
  type Meeting,
  type Summary,
  type Transcript,
} from "../gen/voka/meetings/v1/meeting_pb";
import { MeetingsService, UploadRecordingResponseSchema } from "../gen/voka/meetings/v1/meetings_pb";
import type { Project } from "../gen/voka/meetings/v1/project_pb";
import { enumLabel, formatTime } from "../format";
import { useLanguage, useT } from "../i18n";
import { Field, ProblemBanner, Section, Select, useCall } from "../ui/kit";
import { ClientEditor, ProjectEditor } from "./ClientProjectEditing";
import { MeetingEditor, Participants } from "./MeetingEditing";

const meetings = client(MeetingsService);

const POLL_MS = 3000;
const PENDING = new Set([ProcessingState.PENDING, ProcessingState.RUNNING]);

function ClientsAndProjects({ onProject }: { onProject: (project: Project | null) => void }) {
  const t = useT();
  const call = useCall();
  const run = call.run;
  const [clients, setClients] = useState<Client[]>([]);
  const [projects, setProjects] = useState<Project[]>([]);
  const [client, setClient] = useState("");
  const [project, setProject] = useState("");
  const [clientName, setClientName] = useState("");
  const [projectTitle, setProjectTitle] = useState("");

  const load = useCallback(
    () =>
      run(async () => {
        const [listedClients, listedProjects] = await Promise.all([
          meetings.listClients({ pageSize: 100 }),
          meetings.listProjects({ pageSize: 100 }),
        ]);
        setClients(listedClients.clients);
        setProjects(listedProjects.projects);
        return listedProjects.projects;
      }),
    [run],
  );
  useEffect(() => {
    void load();
  }, [load]);

  async function createClient(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() => meetings.createClient({ client: { displayName: clientName } }));
    if (reply?.client) {
      setClient(reply.client.name);
      setClientName("");
      void load();
    }
  }

  async function createProject(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() => meetings.createProject({ project: { client, title: projectTitle } }));
    if (reply?.project) {
      setProjectTitle("");
      choose(reply.project.name, [...projects, reply.project]);
      void load();
    }
  }

  function choose(name: string, among: Project[] = projects) {
    setProject(name);
    onProject(among.find((p) => p.name === name) ?? null);
  }

  /** After an edit or a delete: the lists again, and the chosen project as it now is (or none). */
  async function reload(keepProject: string) {
    const listed = await load();
    if (listed) choose(listed.some((p) => p.name === keepProject) ? keepProject : "", listed);
  }

  const chosenClient = clients.find((c) => c.name === client);
  const chosenProject = projects.find((p) => p.name === project);

  return (
    <Section title={t("meetings.clientsProjects")} testId="meetings-projects">
      <ProblemBanner problem={call.problem} testId="meetings-projects-problem" />
      <form className="row" onSubmit={createClient}>
        <Field
          label={t("meetings.newClient")}
          testId="meetings-client-name"
          value={clientName}
          onChange={(e) => setClientName(e.target.value)}
          error={fieldError(call.problem, "display_name")}
        />
        <button type="submit" data-testid="meetings-client-create" disabled={call.busy}>
          {t("meetings.create")}
        </button>
      </form>
      <Select label={t("meetings.client")} value={client} onChange={setClient} testId="meetings-client">
        <option value="">—</option>
        {clients.map((c) => (
          <option key={c.name} value={c.name}>
            {c.displayName}
          </option>
        ))}
      </Select>
      {chosenClient && (
        <ClientEditor
          key={chosenClient.name}
          value={chosenClient}
          onChanged={() => void reload(project)}
          onDeleted={() => {
            setClient("");
            void reload(project);
          }}
        />
      )}
      <form className="row" onSubmit={createProject}>
        <Field
          label={t("meetings.newProject")}
          testId="meetings-project-title"
          value={projectTitle}
          onChange={(e) => setProjectTitle(e.target.value)}
          error={fieldError(call.problem, "title")}
        />
        <button type="submit" data-testid="meetings-project-create" disabled={call.busy || !client}>
          {t("meetings.create")}
        </button>
      </form>
      <Select
        label={t("meetings.project")}
        value={project}
        onChange={(name) => choose(name)}
        testId="meetings-project"
      >
        <option value="">—</option>
        {projects
          .filter((p) => !client || p.client === client)
          .map((p) => (
            <option key={p.name} value={p.name}>
              {p.title}
            </option>
          ))}
      </Select>
      {chosenProject && (
        <ProjectEditor
          key={chosenProject.name}
          value={chosenProject}
          onChanged={() => void reload(project)}
          onDeleted={() => void reload("")}
        />
      )}
    </Section>
  );
}

function MeetingList({
  project,
  onMeeting,
  selected,
}: {
  project: Project;
  onMeeting: (name: string) => void;
  selected: string;
}) {
  const t = useT();
  const { language } = useLanguage();
  const call = useCall();
  const run = call.run;
  const [list, setList] = useState<Meeting[]>([]);
  const [title, setTitle] = useState("");

  const load = useCallback(
    () =>
      run(async () =>
        setList((await meetings.listMeetings({ project: project.name, pageSize: 50 })).meetings),
      ),
    [run, project.name],
  );
  useEffect(() => {
    void load();
  }, [load]);

  async function create(event: FormEvent) {
    event.preventDefault();
    const start = Date.now() + 5 * 60_000;
    const reply = await call.run(() =>
      meetings.createMeeting({
        meeting: {
          project: project.name,
          title,
          startTime: timestampFromMs(start),
          endTime: timestampFromMs(start + 60 * 60_000),
        },
      }),
    );
    if (reply?.meeting) {
      setTitle("");
      onMeeting(reply.meeting.name);
      void load();
    }
  }

  return (
    <Section title={t("meetings.meetings")} testId="meetings-list">
      <ProblemBanner problem={call.problem} testId="meetings-list-problem" />
      <form className="row" onSubmit={create}>
        <Field
          label={t("meetings.newMeeting")}
          testId="meetings-meeting-title"
          value={title}
          onChange={(e) => setTitle(e.target.value)}
          error={fieldError(call.problem, "title")}
        />
        <button type="submit" data-testid="meetings-meeting-create" disabled={call.busy}>
          {t("meetings.create")}
        </button>
      </form>
      <ul className="list">
        {list.map((m) => (
          <li key={m.name} data-testid="meetings-meeting">
            <button
              type="button"
              className={m.name === selected ? "link active" : "link"}
              onClick={() => onMeeting(m.name)}
              aria-current={m.name === selected ? "true" : undefined}
            >
              {m.title}
            </button>{" "}
            <span className="muted">{formatTime(m.startTime, language)}</span>
          </li>
        ))}
      </ul>
    </Section>
  );
}

function MeetingDetail({
  name,
  onChanged,
  onDeleted,
}: {
  name: string;
  onChanged: () => void;
  onDeleted: () => void;
}) {
  const t = useT();
  const call = useCall();
  const run = call.run;
  const [meeting, setMeeting] = useState<Meeting | null>(null);
  const [transcript, setTranscript] = useState<Transcript | null>(null);
  const [summary, setSummary] = useState<Summary | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [language, setLanguage] = useState("");
  const [uploading, setUploading] = useState(false);
  const [uploadProblem, setUploadProblem] = useState<Problem | null>(null);

  const refresh = useCallback(
    () =>
      run(async () => {
        const current = (await meetings.getMeeting({ name })).meeting ?? null;
        setMeeting(current);
        if (current?.transcriptState === ProcessingState.COMPLETED) {
          setTranscript((await meetings.getTranscript({ name: `${name}/transcript` })).transcript ?? null);
        }
        if (current?.summaryState === ProcessingState.COMPLETED) {
          setSummary((await meetings.getSummary({ name: `${name}/summary` })).summary ?? null);
        }
        return current;
      }),
    [run, name],
  );

  const pending =
    meeting !== null && (PENDING.has(meeting.transcriptState) || PENDING.has(meeting.summaryState));
  useEffect(() => {
    void refresh();
  }, [refresh]);
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => void refresh(), POLL_MS);
    return () => clearInterval(timer);
  }, [pending, refresh]);

  async function upload(event: FormEvent) {
    event.preventDefault();
    if (!file) return;
    setUploading(true);
    setUploadProblem(null);
    try {
      // UploadRecording is a client stream: over REST, the audio as the body, the rest in the query.
      const query = new URLSearchParams({ fileName: file.name, ...(language ? { language } : {}) });
      await restCall(UploadRecordingResponseSchema, `/api/v1/${name}/recordings?${query}`, {
        method: "POST",
        body: file,
        contentType: file.type || "application/octet-stream",
      });
      await refresh();
    } catch (error) {
      setUploadProblem(error instanceof RestProblem ? error.problem : problemOf(error));
    } finally {
      setUploading(false);
    }
  }

  async function join() {
    const reply = await call.run(() => meetings.joinMeeting({ name }));
    if (reply?.roomUrl) globalThis.open(reply.roomUrl, "_blank", "noopener");
  }

  function changed(next: Meeting) {
    setMeeting(next);
    onChanged();
  }

  if (!meeting) return <ProblemBanner problem={call.problem} testId="meeting-problem" />;
  return (
    <Section title={meeting.title} testId="meeting-detail">
      <ProblemBanner problem={call.problem} testId="meeting-problem" />
      <MeetingEditor
        key={meeting.updateTime?.seconds ?? 0}
        meeting={meeting}
        onChanged={changed}
        onDeleted={onDeleted}
      />
      {meeting.roomUrl && (
        <p>
          <a
            href={meeting.roomUrl}
            target="_blank"
            rel="noopener noreferrer"
            data-testid="meeting-jitsi-link"
          >
            {t("meetings.jitsi")}
          </a>{" "}
          <button type="button" className="link" data-testid="meeting-join" onClick={() => void join()}>
            {t("meetings.join")}
          </button>
        </p>
      )}
      <form className="row" onSubmit={upload}>
        <ProblemBanner problem={uploadProblem} testId="meeting-upload-problem" />
        <div className="field">
          <label htmlFor="meeting-recording">{t("meetings.recording")}</label>
          <input
            id="meeting-recording"
            data-testid="meeting-recording-file"
            type="file"
            accept="audio/*,video/webm"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </div>
        <Select
          label={t("voice.language")}
          value={language}
          onChange={setLanguage}
          testId="meeting-recording-language"
        >
          <option value="">{t("voice.anyLanguage")}</option>
          <option value="es">Español</option>
          <option value="en">English</option>
        </Select>
        <button type="submit" data-testid="meeting-upload" disabled={!file || uploading}>
          {t("speech.upload")}
        </button>
      </form>
      <p
        className="muted"
        data-testid="meeting-states"
        data-transcript-state={ProcessingState[meeting.transcriptState]}
        data-summary-state={ProcessingState[meeting.summaryState]}
      >
        {t("meetings.transcriptState")}: {enumLabel(ProcessingState, meeting.transcriptState)} ·{" "}
        {t("meetings.summaryState")}: {enumLabel(ProcessingState, meeting.summaryState)}
      </p>
      {summary && (
        <div className="result" data-testid="meeting-summary">
          <h3>{t("meetings.summary")}</h3>
          <p data-testid="meeting-summary-text">{summary.text}</p>
          {summary.decisions.length > 0 && (
            <>
              <h4>{t("meetings.decisions")}</h4>
              <ul>
                {summary.decisions.map((d) => (
                  <li key={d}>{d}</li>
                ))}
              </ul>
            </>
          )}
          {summary.commitments.length > 0 && (
            <>
              <h4>{t("meetings.commitments")}</h4>
              <ul>
                {summary.commitments.map((c) => (
                  <li key={c.description}>
                    {c.description}
                    {c.owner ? ` — ${c.owner}` : ""}
                    {c.dueDate ? ` (${c.dueDate})` : ""}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
      {transcript && (
        <details data-testid="meeting-transcript">
          <summary>{t("meetings.transcript")}</summary>
          <p>{transcript.text}</p>
        </details>
      )}
      <Participants meeting={meeting} onChanged={changed} />
    </Section>
  );
}

function ProjectChat({ project }: { project: Project }) {
  const t = useT();
  const [question, setQuestion] = useState("");
  const [answer, setAnswer] = useState("");
  const [sources, setSources] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);

  async function ask(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    setAnswer("");
    setSources([]);
    try {
      for await (const reply of meetings.streamAskProject({ project: project.name, question })) {
        const event = reply.event;
        if (event.case === "textDelta") setAnswer((all) => all + event.value);
        else if (event.case === "citation") setSources((all) => [...all, event.value.snippet]);
        else if (event.case === "answer") setAnswer(event.value.content);
      }
    } catch (error) {
      if (!isAborted(error)) setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title={t("meetings.projectChat")} testId="meetings-chat">
      <form className="row" onSubmit={ask}>
        <Field
          label={t("meetings.question")}
          testId="meetings-question"
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
          error={fieldError(problem, "question")}
        />
        <button type="submit" data-testid="meetings-ask" disabled={busy || !question}>
          {t("meetings.ask")}
        </button>
      </form>
      <ProblemBanner problem={problem} testId="meetings-chat-problem" />
      {answer && (
        <p data-testid="meetings-answer" aria-live="polite">
          {answer}
        </p>
      )}
      {sources.length > 0 && (
        <ol className="muted">
          {sources.map((s, i) => (
            <li key={i}>{s}</li>
          ))}
        </ol>
      )}
    </Section>
  );
}

function Search() {
  const t = useT();
  const call = useCall();
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<SearchResult[] | null>(null);

  async function search(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() => meetings.search({ query, pageSize: 20 }));
    if (reply) setResults(reply.results);
  }

  return (
    <Section title={t("meetings.search")} testId="meetings-search">
      <form className="row" onSubmit={search}>
        <Field
          label={t("meetings.search")}
          testId="meetings-search-query"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          error={fieldError(call.problem, "query")}
        />
        <button type="submit" data-testid="meetings-search-submit" disabled={call.busy}>
          {t("meetings.search")}
        </button>
      </form>
      <ProblemBanner problem={call.problem} testId="meetings-search-problem" />
      {results &&
        (results.length === 0 ? (
          <p className="muted">{t("common.empty")}</p>
        ) : (
          <ul className="list">
            {results.map((r, i) => (
              <li key={i} data-testid="meetings-search-result">
                <strong>{r.source?.title}</strong> <span className="muted">{r.snippet}</span>
              </li>
            ))}
          </ul>
        ))}
    </Section>
  );
}

export function MeetingsPage() {
  const t = useT();
  const [project, setProject] = useState<Project | null>(null);
  const [meeting, setMeeting] = useState("");
  // Counts edits and deletions made in the detail: the list is mounted (so read) again on each.
  const [changes, setChanges] = useState(0);
  const reread = () => setChanges((n) => n + 1);
  return (
    <div className="page" data-testid="meetings-page">
      <h1>{t("nav.meetings")}</h1>
      <ClientsAndProjects
        onProject={(p) => {
          setProject(p);
          setMeeting("");
        }}
      />
      {project && (
        <MeetingList
          key={`${project.name}-${changes}`}
          project={project}
          selected={meeting}
          onMeeting={setMeeting}
        />
      )}
      {meeting && (
        <MeetingDetail
          key={meeting}
          name={meeting}
          onChanged={reread}
          onDeleted={() => {
            setMeeting("");
            reread();
          }}
        />
      )}
      {project && <ProjectChat key={`chat-${project.name}`} project={project} />}
      <Search />
    </div>
  );
}
