// Speech: transcribe a file or a recording (the transcript with its timed segments), synthesize
// text with a voice from the catalogue and play it, and the caller's voice samples (upload,
// list, play).
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError } from "../api/errors";
import { mimeOf, startRecording, type Recording } from "../audio/recorder";
import {
  SpeechService,
  type TranscriptionResult,
  type Voice,
  type VoiceSample,
} from "../gen/voka/speech/v1/speech_pb";
import { durationMs, formatMs } from "../format";
import { useLanguage, useT } from "../i18n";
import { Field, ProblemBanner, Section, Select, useCall } from "../ui/kit";

const speech = client(SpeechService);

async function bytesOf(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

/** An object URL for `data`, revoked when the next one replaces it or the page closes. */
function useObjectUrl(): [string | null, (data: Uint8Array | null, type?: string) => void] {
  const [url, setUrl] = useState<string | null>(null);
  const current = useRef<string | null>(null);
  useEffect(
    () => () => {
      if (current.current) URL.revokeObjectURL(current.current);
    },
    [],
  );
  function set(data: Uint8Array | null, type = "audio/wav") {
    if (current.current) URL.revokeObjectURL(current.current);
    current.current = data ? URL.createObjectURL(new Blob([data as BlobPart], { type })) : null;
    setUrl(current.current);
  }
  return [url, set];
}

function Transcribe() {
  const t = useT();
  const { language: ui } = useLanguage();
  const call = useCall();
  const [language, setLanguage] = useState("");
  const [file, setFile] = useState<Blob | null>(null);
  const [recording, setRecording] = useState<Recording | null>(null);
  const [result, setResult] = useState<TranscriptionResult | null>(null);

  async function toggleRecording() {
    if (recording) {
      setFile(await recording.stop());
      setRecording(null);
    } else {
      const started = await call.run(startRecording);
      if (started) setRecording(started);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!file) return;
    const reply = await call.run(async () =>
      speech.transcribe({
        body: { contentType: mimeOf(file, "audio/wav"), data: await bytesOf(file) },
        config: { language },
      }),
    );
    if (reply) setResult(reply.result ?? null);
  }

  return (
    <Section title={t("speech.transcribe")} testId="speech-transcribe">
      <form onSubmit={submit} className="stack">
        <ProblemBanner problem={call.problem} testId="speech-transcribe-problem" />
        <div className="row">
          <div className="field">
            <label htmlFor="speech-file">{t("speech.file")}</label>
            <input
              id="speech-file"
              data-testid="speech-file"
              type="file"
              accept="audio/*"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            />
          </div>
          <Select
            label={t("voice.language")}
            value={language}
            onChange={setLanguage}
            testId="speech-language"
            error={fieldError(call.problem, "language")}
          >
            <option value="">{t("voice.anyLanguage")}</option>
            <option value="es">Español</option>
            <option value="en">English</option>
          </Select>
        </div>
        <div className="row buttons">
          <button
            type="button"
            data-testid="speech-record"
            onClick={() => void toggleRecording()}
            aria-pressed={recording !== null}
          >
            {recording ? t("speech.stopRecording") : t("speech.record")}
          </button>
          <button
            type="submit"
            data-testid="speech-transcribe-submit"
            disabled={!file || call.busy || recording !== null}
          >
            {t("speech.transcribe")}
          </button>
        </div>
      </form>
      {result && (
        <output className="result" data-testid="speech-transcript">
          <p data-testid="speech-transcript-text">{result.text}</p>
          <p className="muted">
            {result.language} · {formatMs(durationMs(result.duration), ui)} · {result.model}
          </p>
          <ol className="list" data-testid="speech-segments">
            {result.segments.map((segment) => (
              <li key={segment.index} data-testid="speech-segment">
                <span className="muted">
                  {formatMs(durationMs(segment.startOffset), ui)} –{" "}
                  {formatMs(durationMs(segment.endOffset), ui)}
                </span>{" "}
                {segment.text}
              </li>
            ))}
          </ol>
        </output>
      )}
    </Section>
  );
}

function Synthesize({ voices }: { voices: Voice[] }) {
  const t = useT();
  const call = useCall();
  const [text, setText] = useState("");
  const [voice, setVoice] = useState("");
  const [audioUrl, setAudio] = useObjectUrl();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() => speech.synthesizeSpeech({ text, voice }));
    if (reply) setAudio(reply.data, reply.contentType || "audio/wav");
  }

  return (
    <Section title={t("speech.synthesize")} testId="speech-synthesize">
      <form onSubmit={submit} className="stack">
        <ProblemBanner problem={call.problem} testId="speech-synthesize-problem" />
        <Field
          label={t("translate.text")}
          testId="speech-tts-text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          error={fieldError(call.problem, "text")}
        />
        <Select
          label={t("speech.voice")}
          value={voice}
          onChange={setVoice}
          testId="speech-voice"
          error={fieldError(call.problem, "voice")}
        >
          <option value="">{t("speech.defaultVoice")}</option>
          {voices.map((v) => (
            <option key={v.name} value={v.name}>
              {v.displayName || v.name} ({v.languages.join(", ")})
            </option>
          ))}
        </Select>
        <button type="submit" data-testid="speech-tts-submit" disabled={call.busy}>
          {t("speech.speak")}
        </button>
      </form>
      {audioUrl && <audio controls autoPlay src={audioUrl} data-testid="speech-tts-audio" />}
    </Section>
  );
}

async function listSamples(): Promise<VoiceSample[]> {
  return (await speech.listVoiceSamples({ pageSize: 50 })).voiceSamples;
}

function Samples() {
  const t = useT();
  const call = useCall();
  const run = call.run;
  const [samples, setSamples] = useState<VoiceSample[]>([]);
  const [name, setName] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [audioUrl, setAudio] = useObjectUrl();

  const load = useCallback(() => run(listSamples).then((listed) => listed && setSamples(listed)), [run]);
  useEffect(() => {
    void run(listSamples).then((listed) => listed && setSamples(listed));
  }, [run]);

  async function upload(event: FormEvent) {
    event.preventDefault();
    if (!file) return;
    const created = await call.run(async () =>
      speech.createVoiceSample({
        body: { contentType: mimeOf(file, "audio/wav"), data: await bytesOf(file) },
        displayName: name,
        fileName: file.name,
      }),
    );
    if (created) void load();
  }

  async function play(sample: VoiceSample) {
    const reply = await call.run(() => speech.downloadVoiceSample({ name: sample.name }));
    if (reply) setAudio(reply.data, reply.contentType || sample.contentType);
  }

  return (
    <Section title={t("speech.samples")} testId="speech-samples">
      <ProblemBanner problem={call.problem} testId="speech-samples-problem" />
      <form onSubmit={upload} className="row">
        <Field
          label={t("speech.sampleName")}
          testId="speech-sample-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(call.problem, "display_name")}
        />
        <div className="field">
          <label htmlFor="speech-sample-file">{t("speech.file")}</label>
          <input
            id="speech-sample-file"
            data-testid="speech-sample-file"
            type="file"
            accept="audio/*"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </div>
        <button type="submit" data-testid="speech-sample-upload" disabled={!file || call.busy}>
          {t("speech.upload")}
        </button>
      </form>
      {samples.length === 0 ? (
        <p className="muted">{t("common.empty")}</p>
      ) : (
        <ul className="list">
          {samples.map((sample) => (
            <li key={sample.name} data-testid="speech-sample">
              {sample.displayName || sample.fileName} <span className="muted">{sample.language}</span>{" "}
              <button
                type="button"
                className="link"
                onClick={() => void play(sample)}
                aria-label={t("speech.playNamed", { name: sample.displayName || sample.fileName })}
              >
                {t("speech.play")}
              </button>
            </li>
          ))}
        </ul>
      )}
      {audioUrl && <audio controls autoPlay src={audioUrl} data-testid="speech-sample-audio" />}
    </Section>
  );
}

export function SpeechPage() {
  const t = useT();
  const side = useCall();
  const sideRun = side.run;
  const [voices, setVoices] = useState<Voice[]>([]);
  useEffect(() => {
    void sideRun(async () => setVoices((await speech.listVoices({ pageSize: 200 })).voices));
  }, [sideRun]);
  return (
    <div className="page" data-testid="speech-page">
      <h1>{t("nav.speech")}</h1>
      <ProblemBanner problem={side.problem} testId="speech-problem" />
      <Transcribe />
      <Synthesize voices={voices} />
      <Samples />
    </div>
  );
}
