// Changing a meeting from its detail: the title and description (UpdateMeeting with a field
// mask), deleting it (DeleteMeeting, `force` when it has recordings, after a confirmation that
// says so), and its participants (AddMeetingParticipants, RemoveMeetingParticipants).
import { useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError } from "../api/errors";
import { type Meeting, ParticipantPresence, ParticipantRole } from "../gen/voka/meetings/v1/meeting_pb";
import { MeetingsService } from "../gen/voka/meetings/v1/meetings_pb";
import { enumLabel } from "../format";
import { useT } from "../i18n";
import { EditForm, Field, ProblemBanner, Select, useCall } from "../ui/kit";

const meetings = client(MeetingsService);

export function MeetingEditor({
  meeting,
  onChanged,
  onDeleted,
}: {
  meeting: Meeting;
  onChanged: (meeting: Meeting) => void;
  onDeleted: () => void;
}) {
  const t = useT();
  const call = useCall();
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(meeting.title);
  const [description, setDescription] = useState(meeting.description);

  async function save(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() =>
      meetings.updateMeeting({
        meeting: { name: meeting.name, title, description },
        updateMask: { paths: ["title", "description"] },
      }),
    );
    if (reply?.meeting) {
      setEditing(false);
      onChanged(reply.meeting);
    }
  }

  async function remove() {
    const force = meeting.recordingCount > 0;
    const question = force
      ? t("meetings.deleteWithRecordings", { title: meeting.title, count: meeting.recordingCount })
      : t("meetings.deleteConfirm", { title: meeting.title });
    if (!globalThis.confirm(question)) return;
    if (await call.run(() => meetings.deleteMeeting({ name: meeting.name, force }))) onDeleted();
  }

  return (
    <div data-testid="meeting-editor">
      <ProblemBanner problem={call.problem} testId="meeting-editor-problem" />
      {editing ? (
        <EditForm
          label={t("meetings.edit")}
          fields={[
            {
              label: t("meetings.title"),
              testId: "meeting-edit-title",
              value: title,
              onChange: setTitle,
              error: fieldError(call.problem, "title"),
            },
            {
              label: t("meetings.description"),
              testId: "meeting-edit-description",
              value: description,
              onChange: setDescription,
              error: fieldError(call.problem, "description"),
            },
          ]}
          busy={call.busy}
          saveTestId="meeting-save"
          onSubmit={(event) => void save(event)}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <p className="row">
          {meeting.description && <span className="muted">{meeting.description}</span>}
          <button type="button" data-testid="meeting-edit" onClick={() => setEditing(true)}>
            {t("common.edit")}
          </button>
          <button
            type="button"
            data-testid="meeting-delete"
            onClick={() => void remove()}
            disabled={call.busy}
          >
            {t("common.delete")}
          </button>
        </p>
      )}
    </div>
  );
}

export function Participants({
  meeting,
  onChanged,
}: {
  meeting: Meeting;
  onChanged: (meeting: Meeting) => void;
}) {
  const t = useT();
  const call = useCall();
  const [displayName, setDisplayName] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState(String(ParticipantRole.ATTENDEE));

  async function add(event: FormEvent) {
    event.preventDefault();
    const participant = { displayName, email, role: Number(role) as ParticipantRole };
    const reply = await call.run(() =>
      meetings.addMeetingParticipants({ meeting: meeting.name, participants: [participant] }),
    );
    if (reply?.meeting) {
      setDisplayName("");
      setEmail("");
      onChanged(reply.meeting);
    }
  }

  async function remove(name: string) {
    const reply = await call.run(() =>
      meetings.removeMeetingParticipants({ meeting: meeting.name, participants: [name] }),
    );
    if (reply?.meeting) onChanged(reply.meeting);
  }

  return (
    <div data-testid="meeting-participants">
      <h3>{t("meetings.participants")}</h3>
      <ProblemBanner problem={call.problem} testId="meeting-participants-problem" />
      {meeting.participants.length === 0 ? (
        <p className="muted">{t("common.empty")}</p>
      ) : (
        <ul className="list">
          {meeting.participants.map((p) => (
            <li key={p.name} data-testid="meeting-participant">
              <strong>{p.displayName}</strong> {p.email && <span className="muted">{p.email}</span>} ·{" "}
              {enumLabel(ParticipantRole, p.role)} · {enumLabel(ParticipantPresence, p.presence)}{" "}
              <button
                type="button"
                data-testid="meeting-participant-remove"
                onClick={() => void remove(p.name)}
                disabled={call.busy}
                aria-label={t("meetings.removeNamed", { name: p.displayName })}
              >
                {t("meetings.remove")}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="row" onSubmit={add} aria-label={t("meetings.invite")}>
        <Field
          label={t("meetings.participantName")}
          testId="meeting-participant-name"
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={fieldError(call.problem, "display_name")}
        />
        <Field
          label={t("auth.email")}
          testId="meeting-participant-email"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError(call.problem, "email")}
        />
        <Select label={t("meetings.role")} value={role} onChange={setRole} testId="meeting-participant-role">
          <option value={String(ParticipantRole.ATTENDEE)}>
            {enumLabel(ParticipantRole, ParticipantRole.ATTENDEE)}
          </option>
          <option value={String(ParticipantRole.HOST)}>
            {enumLabel(ParticipantRole, ParticipantRole.HOST)}
          </option>
        </Select>
        <button type="submit" data-testid="meeting-participant-add" disabled={call.busy || !displayName}>
          {t("meetings.invite")}
        </button>
      </form>
    </div>
  );
}
