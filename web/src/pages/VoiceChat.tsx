// Voice chat: the microphone streams to the WebSocket bridge, the transcript appears as it is
// recognized (interim, then final), Vicky's reply as text deltas and then as speech, played
// sentence by sentence; "interrupt" is barge-in (cancel_reply, and the playback stops).
import { useEffect, useRef, useState } from "react";
import { accessToken } from "../api/transport";
import { VoiceChatSocket, type SocketError } from "../api/voiceSocket";
import { openMicrophone, Player, SAMPLE_RATE, type Microphone } from "../audio/microphone";
import type { StreamVoiceChatResponse } from "../gen/voka/assistant/v1/assistant_pb";
import { useT } from "../i18n";
import { Select } from "../ui/kit";

type Status = "idle" | "connecting" | "listening" | "ended";

interface Utterance {
  index: number;
  text: string;
  final: boolean;
}

export function VoiceChatPage() {
  const t = useT();
  const [language, setLanguage] = useState("");
  const [status, setStatus] = useState<Status>("idle");
  const [utterances, setUtterances] = useState<Utterance[]>([]);
  const [reply, setReply] = useState("");
  const [played, setPlayed] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const socket = useRef<VoiceChatSocket | null>(null);
  const microphone = useRef<Microphone | null>(null);
  const player = useRef(new Player());

  useEffect(() => {
    const playback = player.current;
    return () => {
      socket.current?.close();
      void microphone.current?.stop();
      void playback.close();
    };
  }, []);

  function onResponse(response: StreamVoiceChatResponse) {
    const event = response.event;
    switch (event.case) {
      case "transcript": {
        const { utteranceIndex, text, isFinal } = event.value;
        setUtterances((all) => [
          ...all.filter((u) => u.index !== utteranceIndex),
          { index: utteranceIndex, text, final: isFinal },
        ]);
        break;
      }
      case "replyStarted":
        setReply("");
        break;
      case "replyDelta": {
        const text = event.value.text;
        setReply((all) => all + text);
        break;
      }
      case "error":
        setProblem(event.value.message);
        break;
      default:
        break;
    }
  }

  function onAudio(data: ArrayBuffer) {
    void player.current.enqueue(data).then(
      () => setPlayed((n) => n + 1),
      () => setProblem(t("voice.playbackFailed")),
    );
  }

  function onError(error: SocketError) {
    setProblem(`${error.code}: ${error.message}`);
  }

  async function stopMicrophone() {
    const open = microphone.current;
    microphone.current = null;
    await open?.stop();
  }

  function onClose(code: number, reason: string) {
    void stopMicrophone();
    socket.current = null;
    setStatus("ended");
    if (code !== 1000) setProblem((current) => current ?? t("voice.closed", { code, reason: reason || "-" }));
  }

  async function start() {
    setProblem(null);
    setUtterances([]);
    setReply("");
    setStatus("connecting");
    const token = await accessToken();
    if (!token) return;
    const chat = new VoiceChatSocket(
      token,
      {
        ...(language ? { language } : {}),
        inputSampleRateHertz: SAMPLE_RATE,
        outputEncoding: "AUDIO_ENCODING_WAV",
        interimTranscripts: true,
      },
      { onResponse, onAudio, onError, onClose },
      accessToken,
    );
    socket.current = chat;
    try {
      microphone.current = await openMicrophone((pcm) => chat.sendAudio(pcm));
      setStatus("listening");
    } catch (error) {
      setProblem(t("voice.noMicrophone", { reason: error instanceof Error ? error.message : String(error) }));
      chat.close();
    }
  }

  async function stop() {
    await stopMicrophone();
    socket.current?.end();
  }

  function interrupt() {
    player.current.interrupt();
    socket.current?.cancelReply();
  }

  const live = status === "connecting" || status === "listening";
  const ordered = [...utterances].sort((a, b) => a.index - b.index);

  return (
    <div className="page" data-testid="voice-page">
      <h1>{t("nav.voice")}</h1>
      <section className="card" aria-label={t("nav.voice")}>
        <div className="row">
          <Select label={t("voice.language")} value={language} onChange={setLanguage} testId="voice-language">
            <option value="">{t("voice.anyLanguage")}</option>
            <option value="es">Español</option>
            <option value="en">English</option>
          </Select>
        </div>
        <div className="row buttons">
          {live ? (
            <button type="button" data-testid="voice-stop" onClick={() => void stop()}>
              {t("voice.stop")}
            </button>
          ) : (
            <button type="button" data-testid="voice-start" onClick={() => void start()}>
              {t("voice.start")}
            </button>
          )}
          <button
            type="button"
            data-testid="voice-answer-now"
            disabled={!live}
            onClick={() => socket.current?.answerNow()}
          >
            {t("voice.answerNow")}
          </button>
          <button type="button" data-testid="voice-interrupt" disabled={!live} onClick={interrupt}>
            {t("voice.interrupt")}
          </button>
        </div>
        <p className="muted" role="status" data-testid="voice-status" data-status={status}>
          {t(`voice.status.${status}`)}
        </p>
        {problem && (
          <div role="alert" className="problem" data-testid="voice-problem">
            {problem}
          </div>
        )}
        <h2>{t("voice.transcript")}</h2>
        <ol className="list" data-testid="voice-transcript" aria-live="polite">
          {ordered.map((u) => (
            <li
              key={u.index}
              data-testid={u.final ? "voice-final" : "voice-interim"}
              className={u.final ? "" : "muted"}
            >
              {u.text}
            </li>
          ))}
        </ol>
        <h2>{t("voice.reply")}</h2>
        <p data-testid="voice-reply" data-played-chunks={played} aria-live="polite">
          {reply}
        </p>
      </section>
    </div>
  );
}
