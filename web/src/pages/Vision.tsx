// Vision: an uploaded image analysed (objects, labels and a caption with the engine that wrote
// it, so a caption composed from labels is never taken for a model's description) or its hands
// detected (handedness, gesture, landmarks), and the caller's history of analyses.
import { useCallback, useEffect, useState } from "react";
import { client } from "../api/transport";
import { fieldError } from "../api/errors";
import { AnalysisKind, VisionService, type Analysis } from "../gen/voka/vision/v1/vision_pb";
import { enumLabel, formatTime } from "../format";
import { useLanguage, useT, type Translator } from "../i18n";
import { Field, ProblemBanner, Section, useCall } from "../ui/kit";

const vision = client(VisionService);
const HISTORY_PAGE = 20;
// The engine of a caption no model wrote (services/vision/records.py).
const COMPOSED_ENGINE = "composed-from-labels";

/** The two things an uploaded image can be asked for, one button each. */
const ACTIONS = [
  { rpc: "analyzeImage", testId: "vision-submit", label: "vision.analyze" },
  { rpc: "detectHands", testId: "vision-hands", label: "vision.detectHands" },
] as const;

/** The caller's latest analyses, newest first. */
async function listHistory(): Promise<Analysis[]> {
  return (await vision.listAnalyses({ pageSize: HISTORY_PAGE })).analyses;
}

/** The caption engine as a reader should see it: a caption composed from labels says so. */
function engineName(engine: string, t: Translator): string {
  return engine === COMPOSED_ENGINE ? t("vision.composed") : engine;
}

/** A score (0–1) as a whole percentage. */
function percent(score: number): string {
  return `${Math.round(score * 100)}%`;
}

/** Objects or labels, each with its score; nothing when there are none. */
function ScoredList({
  title,
  items,
  testId,
}: {
  title: string;
  items: { label: string; score: number }[];
  testId: string;
}) {
  if (items.length === 0) return null;
  return (
    <>
      <h3>{title}</h3>
      <ul>
        {items.map((item, index) => (
          <li key={index} data-testid={testId}>
            {item.label} · {percent(item.score)}
          </li>
        ))}
      </ul>
    </>
  );
}

function AnalysisView({ analysis }: { analysis: Analysis }) {
  const t = useT();
  return (
    <div data-testid="vision-result">
      {analysis.caption?.text && (
        <p data-testid="vision-caption">
          {analysis.caption.text}{" "}
          <span className="muted" data-testid="vision-caption-engine">
            ({t("vision.captionBy", { engine: engineName(analysis.caption.engine, t) })})
          </span>
        </p>
      )}
      <ScoredList title={t("vision.objects")} items={analysis.objects} testId="vision-object" />
      <ScoredList title={t("vision.labels")} items={analysis.labels} testId="vision-label" />
      {analysis.kind === AnalysisKind.HANDS && (
        <>
          <h3>{t("vision.hands", { count: analysis.hands.length })}</h3>
          <ul>
            {analysis.hands.map((hand, index) => (
              <li key={index} data-testid="vision-hand">
                {t("vision.hand", {
                  handedness: hand.handedness,
                  gesture: hand.gesture || "—",
                  landmarks: hand.landmarks.length,
                })}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

export function VisionPage() {
  const t = useT();
  const { language } = useLanguage();
  const call = useCall();
  const history = useCall();
  const loadHistory = history.run;
  const [image, setImage] = useState<File | null>(null);
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  const [analyses, setAnalyses] = useState<Analysis[]>([]);

  const refresh = useCallback(
    () => loadHistory(listHistory).then((listed) => listed && setAnalyses(listed)),
    [loadHistory],
  );
  useEffect(() => {
    void loadHistory(listHistory).then((listed) => listed && setAnalyses(listed));
  }, [loadHistory]);

  /** Sends the chosen image to `rpc` (AnalyzeImage or DetectHands), shows and records the result. */
  async function submit(rpc: (typeof ACTIONS)[number]["rpc"]) {
    if (!image) return;
    const body = {
      contentType: image.type || "application/octet-stream",
      data: new Uint8Array(await image.arrayBuffer()),
    };
    const reply = await call.run(async () =>
      rpc === "analyzeImage"
        ? (await vision.analyzeImage({ body })).analysis
        : (await vision.detectHands({ body })).analysis,
    );
    if (!reply) return;
    setAnalysis(reply);
    void refresh();
  }

  return (
    <div className="page" data-testid="vision-page">
      <h1>{t("nav.vision")}</h1>
      <Section title={t("vision.analyze")} testId="vision-analyze">
        <ProblemBanner problem={call.problem} testId="vision-problem" />
        <Field
          label={t("vision.image")}
          testId="vision-image"
          type="file"
          accept="image/*"
          onChange={(e) => setImage(e.target.files?.[0] ?? null)}
          error={fieldError(call.problem, "body", "body.data", "body.content_type")}
        />
        <div className="row">
          {ACTIONS.map((action) => (
            <button
              key={action.rpc}
              type="button"
              data-testid={action.testId}
              disabled={!image || call.busy}
              onClick={() => void submit(action.rpc)}
            >
              {t(action.label)}
            </button>
          ))}
        </div>
        {analysis && <AnalysisView analysis={analysis} />}
      </Section>
      <Section title={t("vision.history")} testId="vision-history">
        <ProblemBanner problem={history.problem} testId="vision-history-problem" />
        {analyses.length === 0 ? (
          <p className="muted">{t("vision.noHistory")}</p>
        ) : (
          <ul>
            {analyses.map((item) => (
              <li key={item.name} data-testid="vision-history-item">
                <button type="button" className="link" onClick={() => setAnalysis(item)}>
                  {formatTime(item.createTime, language)} · {enumLabel(AnalysisKind, item.kind)} ·{" "}
                  {item.caption?.text || item.hands.map((hand) => hand.gesture || hand.handedness).join(", ")}
                </button>
              </li>
            ))}
          </ul>
        )}
      </Section>
    </div>
  );
}
