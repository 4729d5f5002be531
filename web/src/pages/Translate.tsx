// Translate: language pickers from the catalogue (ListLanguages), auto-detection (an empty
// source), the caller's history (ListTranslations) and usage figures (GetTranslationStats).
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { fieldError } from "../api/errors";
import {
  TranslateService,
  type Language,
  type TranslateTextResponse,
  type Translation,
  type TranslationStats,
} from "../gen/voka/translate/v1/translate_pb";
import { durationMs, formatMs, formatNumber, formatTime } from "../format";
import { useLanguage, useT } from "../i18n";
import { ProblemBanner, Section, Select, useCall } from "../ui/kit";

const translate = client(TranslateService);

const AUTO = "";

function languageLabel(language: Language): string {
  return language.nativeName && language.nativeName !== language.displayName
    ? `${language.displayName} (${language.nativeName})`
    : language.displayName || language.languageCode;
}

export function TranslatePage() {
  const t = useT();
  const { language: ui } = useLanguage();
  const [languages, setLanguages] = useState<Language[]>([]);
  const [source, setSource] = useState(AUTO);
  const [target, setTarget] = useState("");
  const [text, setText] = useState("");
  const [result, setResult] = useState<TranslateTextResponse | null>(null);
  const [history, setHistory] = useState<Translation[]>([]);
  const [stats, setStats] = useState<TranslationStats | null>(null);
  const call = useCall();
  const side = useCall();
  const sideRun = side.run;

  const refresh = useCallback(async () => {
    await sideRun(async () => {
      const [list, usage] = await Promise.all([
        translate.listTranslations({ pageSize: 10 }),
        translate.getTranslationStats({}),
      ]);
      setHistory(list.translations);
      setStats(usage.stats ?? null);
    });
  }, [sideRun]);

  useEffect(() => {
    void sideRun(async () => {
      const reply = await translate.listLanguages({ installedOnly: true });
      setLanguages(reply.languages);
      const targets = reply.languages.filter((l) => l.installedAsTarget);
      setTarget(
        (current) =>
          current || (targets.find((l) => l.languageCode === "en") ?? targets[0])?.languageCode || "",
      );
    });
    void refresh();
  }, [sideRun, refresh]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const reply = await call.run(() =>
      translate.translateText({ text, sourceLanguageCode: source, targetLanguageCode: target }),
    );
    if (reply) {
      setResult(reply);
      void refresh();
    }
  }

  const name = (code: string) => {
    const found = languages.find((l) => l.languageCode === code);
    return found ? languageLabel(found) : code;
  };

  return (
    <div className="page" data-testid="translate-page">
      <h1>{t("nav.translate")}</h1>
      <form className="card" onSubmit={submit} aria-label={t("nav.translate")}>
        <ProblemBanner problem={call.problem} testId="translate-problem" />
        <div className="row">
          <Select
            label={t("translate.source")}
            value={source}
            onChange={setSource}
            testId="translate-source"
            error={fieldError(call.problem, "source_language_code")}
          >
            <option value={AUTO}>{t("translate.autoDetect")}</option>
            {languages
              .filter((l) => l.installedAsSource)
              .map((l) => (
                <option key={l.languageCode} value={l.languageCode}>
                  {languageLabel(l)}
                </option>
              ))}
          </Select>
          <Select
            label={t("translate.target")}
            value={target}
            onChange={setTarget}
            testId="translate-target"
            error={fieldError(call.problem, "target_language_code")}
          >
            {languages
              .filter((l) => l.installedAsTarget)
              .map((l) => (
                <option key={l.languageCode} value={l.languageCode}>
                  {languageLabel(l)}
                </option>
              ))}
          </Select>
        </div>
        <div className="field">
          <label htmlFor="translate-text">{t("translate.text")}</label>
          <textarea
            id="translate-text"
            data-testid="translate-text"
            rows={4}
            value={text}
            aria-invalid={fieldError(call.problem, "text") ? true : undefined}
            aria-describedby={fieldError(call.problem, "text") ? "translate-text-error" : undefined}
            onChange={(e) => setText(e.target.value)}
          />
          {fieldError(call.problem, "text") && (
            <p id="translate-text-error" className="field-error" data-testid="translate-text-error">
              {fieldError(call.problem, "text")}
            </p>
          )}
        </div>
        <button type="submit" disabled={call.busy} data-testid="translate-submit">
          {t("translate.submit")}
        </button>
        {result && (
          <output className="result" data-testid="translate-result" aria-live="polite">
            <p data-testid="translate-output">{result.translatedText}</p>
            <p className="muted" data-testid="translate-detected">
              {result.detectedLanguage
                ? t("translate.detected", {
                    language: name(result.detectedLanguage.languageCode),
                    confidence: Math.round(result.detectedLanguage.confidence * 100),
                  })
                : `${name(result.sourceLanguageCode)} → ${name(result.targetLanguageCode)}`}
              {" · "}
              {formatMs(durationMs(result.latency), ui)}
              {result.cached ? ` · ${t("translate.cached")}` : ""}
            </p>
          </output>
        )}
      </form>
      <ProblemBanner problem={side.problem} testId="translate-side-problem" />
      <Section title={t("translate.stats")} testId="translate-stats">
        {stats && (
          <dl className="stats">
            <dt>{t("translate.requests")}</dt>
            <dd data-testid="stats-requests">{formatNumber(stats.requestCount, ui)}</dd>
            <dt>{t("translate.characters")}</dt>
            <dd data-testid="stats-characters">{formatNumber(stats.characterCount, ui)}</dd>
            <dt>{t("translate.cachedCount")}</dt>
            <dd>{formatNumber(stats.cachedCount, ui)}</dd>
            <dt>{t("translate.meanLatency")}</dt>
            <dd>{formatMs(durationMs(stats.meanLatency), ui)}</dd>
          </dl>
        )}
      </Section>
      <Section title={t("translate.history")} testId="translate-history">
        {history.length === 0 ? (
          <p className="muted">{t("common.empty")}</p>
        ) : (
          <ul className="list">
            {history.map((item) => (
              <li key={item.name} data-testid="history-item">
                <span className="muted">
                  {item.sourceLanguageCode || item.detectedLanguage?.languageCode} → {item.targetLanguageCode}{" "}
                  · {formatTime(item.createTime, ui)}
                </span>
                <div>{item.sourceText}</div>
                <div>
                  <strong>{item.translatedText}</strong>
                </div>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </div>
  );
}
