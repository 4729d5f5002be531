// The few building blocks every page uses: a labelled field that shows its API error, an inline
// edit form of such fields, the error banner, and a hook that runs an API call and keeps its
// Problem.
import {
  useCallback,
  useId,
  useState,
  type FormEvent,
  type InputHTMLAttributes,
  type ReactNode,
} from "react";
import { problemOf, type Problem } from "../api/errors";
import { useT } from "../i18n";

interface FieldProps extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  error?: string | undefined;
  testId: string;
}

export function Field({ label, error, testId, ...input }: FieldProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        data-testid={testId}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        {...input}
      />
      {error && (
        <p id={`${id}-error`} className="field-error" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

export interface EditedField {
  label: string;
  testId: string;
  value: string;
  onChange: (value: string) => void;
  error?: string | undefined;
}

/** An inline edit of a few text fields: the fields (each with its API error), Save, Cancel. */
export function EditForm({
  label,
  fields,
  busy,
  saveTestId,
  onSubmit,
  onCancel,
}: {
  label: string;
  fields: EditedField[];
  busy: boolean;
  saveTestId: string;
  onSubmit: (event: FormEvent) => void;
  onCancel: () => void;
}) {
  const t = useT();
  return (
    <form className="row" onSubmit={onSubmit} aria-label={label}>
      {fields.map((field) => (
        <Field
          key={field.testId}
          label={field.label}
          testId={field.testId}
          value={field.value}
          onChange={(e) => field.onChange(e.target.value)}
          error={field.error}
        />
      ))}
      <button type="submit" data-testid={saveTestId} disabled={busy}>
        {t("common.save")}
      </button>
      <button type="button" onClick={onCancel}>
        {t("common.cancel")}
      </button>
    </form>
  );
}

interface SelectProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  testId: string;
  error?: string | undefined;
  children: ReactNode;
}

export function Select({ label, value, onChange, testId, error, children }: SelectProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        value={value}
        data-testid={testId}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(event) => onChange(event.target.value)}
      >
        {children}
      </select>
      {error && (
        <p id={`${id}-error`} className="field-error" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** The problem's message, plus the wait when the API said how long (RetryInfo). */
export function ProblemBanner({ problem, testId = "problem" }: { problem: Problem | null; testId?: string }) {
  const t = useT();
  if (!problem) return null;
  return (
    <div role="alert" className="problem" data-testid={testId}>
      {problem.message || t("error.unknown")}
      {problem.retryAfterSeconds !== undefined && (
        <> {t("error.retryAfter", { seconds: problem.retryAfterSeconds })}</>
      )}
    </div>
  );
}

/** Runs API calls for a form: `busy` while one runs, `problem` when the last one failed. */
export function useCall() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const run = useCallback(async <T,>(call: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setProblem(null);
    try {
      return await call();
    } catch (error) {
      setProblem(problemOf(error));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, problem, setProblem, run };
}

export function Section({
  title,
  children,
  testId,
}: {
  title: string;
  children: ReactNode;
  testId?: string;
}) {
  return (
    <section className="card" data-testid={testId} aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}
