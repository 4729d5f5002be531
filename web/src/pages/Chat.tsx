// Chat with Vicky: the reply's tokens appear as StreamReply sends them (a gRPC-Web server
// stream), tool calls and their results in line; conversations, the model picker and the
// hemisphere balance (technical ↔ emotional) per message.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { client } from "../api/transport";
import { isAborted, problemOf, type Problem } from "../api/errors";
import {
  AssistantService,
  type Conversation,
  MessageRole,
  type Model,
  type ToolCall,
  type ToolResult,
} from "../gen/voka/assistant/v1/assistant_pb";
import { useT } from "../i18n";
import { ProblemBanner, Select, useCall } from "../ui/kit";

const assistant = client(AssistantService);

interface Turn {
  key: string;
  role: "user" | "assistant";
  text: string;
  toolCalls: ToolCall[];
  toolResults: ToolResult[];
  streaming: boolean;
}

let turnCounter = 0;
const nextKey = () => `turn-${++turnCounter}`;

function turn(role: Turn["role"], text: string, streaming = false): Turn {
  return { key: nextKey(), role, text, toolCalls: [], toolResults: [], streaming };
}

export function ChatPage() {
  const t = useT();
  const [models, setModels] = useState<Model[]>([]);
  const [model, setModel] = useState("");
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [conversation, setConversation] = useState("");
  const [technical, setTechnical] = useState(50);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [streaming, setStreaming] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const abort = useRef<AbortController | null>(null);
  const side = useCall();
  const sideRun = side.run;

  const loadConversations = useCallback(
    () =>
      sideRun(async () =>
        setConversations((await assistant.listConversations({ pageSize: 20 })).conversations),
      ),
    [sideRun],
  );

  useEffect(() => {
    void sideRun(async () => {
      const reply = await assistant.listModels({ pageSize: 50 });
      setModels(reply.models);
    });
    void loadConversations();
    return () => abort.current?.abort();
  }, [sideRun, loadConversations]);

  async function open(name: string) {
    setConversation(name);
    setTurns([]);
    if (!name) return;
    await sideRun(async () => {
      const reply = await assistant.listMessages({ parent: name, pageSize: 100 });
      setTurns(
        reply.messages
          .filter((m) => m.role === MessageRole.USER || m.role === MessageRole.ASSISTANT)
          .map((m) => ({
            ...turn(m.role === MessageRole.USER ? "user" : "assistant", m.content),
            toolCalls: m.toolCalls,
          })),
      );
    });
  }

  function updateLast(change: (last: Turn) => Turn) {
    setTurns((all) => [...all.slice(0, -1), change(all[all.length - 1] ?? turn("assistant", ""))]);
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    const message = draft.trim();
    if (!message || streaming) return;
    setDraft("");
    setProblem(null);
    setTurns((all) => [...all, turn("user", message), turn("assistant", "", true)]);
    setStreaming(true);
    const controller = new AbortController();
    abort.current = controller;
    try {
      const stream = assistant.streamReply(
        {
          message,
          conversation,
          model,
          hemisphere: { technical: technical / 100, emotional: 1 - technical / 100 },
        },
        { signal: controller.signal },
      );
      for await (const reply of stream) {
        const event = reply.event;
        switch (event.case) {
          case "started":
            if (event.value.conversationCreated) {
              setConversation(event.value.conversation);
              void loadConversations();
            }
            break;
          case "delta": {
            const text = event.value.text;
            updateLast((last) => ({ ...last, text: last.text + text }));
            break;
          }
          case "toolCall": {
            const call = event.value;
            updateLast((last) => ({ ...last, toolCalls: [...last.toolCalls, call] }));
            break;
          }
          case "toolResult": {
            const result = event.value;
            updateLast((last) => ({ ...last, toolResults: [...last.toolResults, result] }));
            break;
          }
          case "error":
            setProblem({ code: event.value.code, message: event.value.message, fields: {} });
            break;
          default:
            break;
        }
      }
    } catch (error) {
      if (!isAborted(error)) setProblem(problemOf(error));
    } finally {
      updateLast((last) => ({ ...last, streaming: false }));
      setStreaming(false);
      abort.current = null;
    }
  }

  return (
    <div className="page chat" data-testid="chat-page">
      <h1>{t("nav.chat")}</h1>
      <div className="chat-layout">
        <aside className="card" aria-label={t("chat.conversations")}>
          <h2>{t("chat.conversations")}</h2>
          <button type="button" data-testid="chat-new" onClick={() => void open("")}>
            {t("chat.new")}
          </button>
          <ul className="list" data-testid="chat-conversations">
            {conversations.map((c) => (
              <li key={c.name}>
                <button
                  type="button"
                  className={c.name === conversation ? "link active" : "link"}
                  aria-current={c.name === conversation ? "true" : undefined}
                  data-testid="chat-conversation"
                  onClick={() => void open(c.name)}
                >
                  {c.displayName || c.name}
                </button>
              </li>
            ))}
          </ul>
        </aside>
        <section className="card" aria-label={t("chat.messages")}>
          <div className="row">
            <Select label={t("chat.model")} value={model} onChange={setModel} testId="chat-model">
              <option value="">{t("chat.defaultModel")}</option>
              {models.map((m) => (
                <option key={m.id} value={m.id} disabled={!m.available}>
                  {m.displayName || m.id}
                </option>
              ))}
            </Select>
            <div className="field">
              <label htmlFor="chat-hemisphere">
                {t("chat.hemisphere", { technical, emotional: 100 - technical })}
              </label>
              <input
                id="chat-hemisphere"
                data-testid="chat-hemisphere"
                type="range"
                min={0}
                max={100}
                step={5}
                value={technical}
                onChange={(e) => setTechnical(Number(e.target.value))}
                aria-valuetext={t("chat.hemisphere", { technical, emotional: 100 - technical })}
              />
            </div>
          </div>
          <ProblemBanner problem={side.problem} testId="chat-side-problem" />
          <ol className="transcript" data-testid="chat-transcript" aria-live="polite">
            {turns.map((item) => (
              <li
                key={item.key}
                className={`bubble ${item.role}`}
                data-testid={`chat-${item.role}`}
                aria-busy={item.streaming || undefined}
              >
                <span className="who">{item.role === "user" ? t("chat.you") : "Vicky"}</span>
                {item.toolCalls.map((call) => (
                  <div key={call.id} className="tool" data-testid="chat-tool-call">
                    🔧 {call.tool}({JSON.stringify(call.arguments ?? {})})
                  </div>
                ))}
                {item.toolResults.map((result) => (
                  <div key={result.toolCallId} className="tool" data-testid="chat-tool-result">
                    ↳ {result.tool}: {result.content}
                  </div>
                ))}
                <p>{item.text}</p>
              </li>
            ))}
          </ol>
          <ProblemBanner problem={problem} testId="chat-problem" />
          <form onSubmit={send} className="row">
            <div className="field grow">
              <label htmlFor="chat-input">{t("chat.message")}</label>
              <input
                id="chat-input"
                data-testid="chat-input"
                value={draft}
                onChange={(e) => setDraft(e.target.value)}
              />
            </div>
            {streaming ? (
              <button type="button" data-testid="chat-stop" onClick={() => abort.current?.abort()}>
                {t("chat.stop")}
              </button>
            ) : (
              <button type="submit" data-testid="chat-send">
                {t("chat.send")}
              </button>
            )}
          </form>
        </section>
      </div>
    </div>
  );
}
