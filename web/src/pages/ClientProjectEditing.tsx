// Changing a client or a project from the meetings page: a few text fields (UpdateClient or
// UpdateProject with a field mask of just those fields) and deleting it (DeleteClient or
// DeleteProject, `force` only when it still has projects or meetings, after a confirmation that
// says what goes with it; the counts are read afresh first, as the list may be older than the
// last meeting made). Both share one editor so the two stay alike.
import { useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError } from "../api/errors";
import type { Client } from "../gen/voka/meetings/v1/client_pb";
import { MeetingsService } from "../gen/voka/meetings/v1/meetings_pb";
import type { Project } from "../gen/voka/meetings/v1/project_pb";
import { useT } from "../i18n";
import { EditForm, ProblemBanner, useCall } from "../ui/kit";

const meetings = client(MeetingsService);

/** One editable text field: its API field path (also the key of the error), label and value. */
interface TextField {
  path: string;
  label: string;
  value: string;
}

/** What deleting would do, asked before it is done. */
interface Removal {
  question: string;
  remove: () => Promise<unknown>;
}

/** The shared editor: Edit opens the inline form, Delete confirms then removes. */
function ResourceEditor({
  testId,
  label,
  fields,
  save,
  removal,
  onChanged,
  onDeleted,
}: {
  testId: string;
  label: string;
  fields: TextField[];
  save: (values: Record<string, string>, paths: string[]) => Promise<unknown>;
  removal: () => Promise<Removal>;
  onChanged: () => void;
  onDeleted: () => void;
}) {
  const t = useT();
  const call = useCall();
  const [editing, setEditing] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});

  function open() {
    setValues(Object.fromEntries(fields.map((field) => [field.path, field.value])));
    setEditing(true);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const paths = fields.map((field) => field.path);
    if ((await call.run(() => save(values, paths))) !== undefined) {
      setEditing(false);
      onChanged();
    }
  }

  async function confirmAndRemove() {
    const planned = await call.run(removal);
    if (!planned || !globalThis.confirm(planned.question)) return;
    if ((await call.run(planned.remove)) !== undefined) onDeleted();
  }

  return (
    <div data-testid={testId}>
      <ProblemBanner problem={call.problem} testId={`${testId}-problem`} />
      {editing ? (
        <EditForm
          label={label}
          fields={fields.map((field) => ({
            label: field.label,
            testId: `${testId}-${field.path}`,
            value: values[field.path] ?? "",
            onChange: (value: string) => setValues((old) => ({ ...old, [field.path]: value })),
            error: fieldError(call.problem, field.path),
          }))}
          busy={call.busy}
          saveTestId={`${testId}-save`}
          onSubmit={(event) => void submit(event)}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <p className="row">
          <button type="button" data-testid={`${testId}-edit`} onClick={open} aria-label={label}>
            {t("common.edit")}
          </button>
          <button
            type="button"
            data-testid={`${testId}-delete`}
            onClick={() => void confirmAndRemove()}
            disabled={call.busy}
          >
            {t("common.delete")}
          </button>
        </p>
      )}
    </div>
  );
}

export function ClientEditor({
  value,
  onChanged,
  onDeleted,
}: {
  value: Client;
  onChanged: () => void;
  onDeleted: () => void;
}) {
  const t = useT();

  async function removal(): Promise<Removal> {
    const fresh = (await meetings.getClient({ name: value.name })).client ?? value;
    const force = fresh.projectCount > 0;
    return {
      question: force
        ? t("meetings.deleteClientWithProjects", { name: fresh.displayName, count: fresh.projectCount })
        : t("meetings.deleteClientConfirm", { name: fresh.displayName }),
      remove: () => meetings.deleteClient({ name: value.name, force }),
    };
  }

  return (
    <ResourceEditor
      testId="client-editor"
      label={t("meetings.editClient")}
      fields={[
        { path: "display_name", label: t("auth.displayName"), value: value.displayName },
        { path: "contact_email", label: t("auth.email"), value: value.contactEmail },
        { path: "company", label: t("meetings.company"), value: value.company },
      ]}
      save={(values, paths) =>
        meetings.updateClient({
          client: {
            name: value.name,
            displayName: values.display_name,
            contactEmail: values.contact_email,
            company: values.company,
          },
          updateMask: { paths },
        })
      }
      removal={removal}
      onChanged={onChanged}
      onDeleted={onDeleted}
    />
  );
}

export function ProjectEditor({
  value,
  onChanged,
  onDeleted,
}: {
  value: Project;
  onChanged: () => void;
  onDeleted: () => void;
}) {
  const t = useT();

  async function removal(): Promise<Removal> {
    const fresh = (await meetings.getProject({ name: value.name })).project ?? value;
    const force = fresh.meetingCount > 0;
    return {
      question: force
        ? t("meetings.deleteProjectWithMeetings", { title: fresh.title, count: fresh.meetingCount })
        : t("meetings.deleteProjectConfirm", { title: fresh.title }),
      remove: () => meetings.deleteProject({ name: value.name, force }),
    };
  }

  return (
    <ResourceEditor
      testId="project-editor"
      label={t("meetings.editProject")}
      fields={[
        { path: "title", label: t("meetings.title"), value: value.title },
        { path: "description", label: t("meetings.description"), value: value.description },
      ]}
      save={(values, paths) =>
        meetings.updateProject({
          project: { name: value.name, title: values.title, description: values.description },
          updateMask: { paths },
        })
      }
      removal={removal}
      onChanged={onChanged}
      onDeleted={onDeleted}
    />
  );
}
