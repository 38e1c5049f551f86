// Chat playground: any model from LLMService.ListModels, streamed with GenerateStream.
import { create } from "@bufbuild/protobuf";
import {
  CacheMode,
  ChatMessageSchema,
  FinishReasonSchema,
  ModelSourceSchema,
  Role,
  type ChatMessage,
  type GenerateStreamDone,
  type ModelMetrics,
} from "../../../clients/typescript/src/gen/openloop/llm/v1/llm_service_pb.js";
import { h, facts, field, replace } from "../dom.js";
import type { Page } from "../page.js";
import { announce, enumLabel, errorBox, formatMs, pageHeading } from "../ui.js";

export const chatPage: Page = (main, { api, signal }) => {
  const modelSelect = h("select", { name: "model", required: true }, h("option", { value: "" }, "Loading models…"));
  const maxTokens = h("input", { type: "number", name: "maxTokens", min: 1, max: 32768, step: 1, value: 128, inputmode: "numeric" });
  const temperature = h("input", { type: "number", name: "temperature", min: 0, max: 2, step: 0.05, placeholder: "default", inputmode: "decimal" });
  const topP = h("input", { type: "number", name: "topP", min: 0.01, max: 1, step: 0.01, placeholder: "default", inputmode: "decimal" });
  const seed = h("input", { type: "number", name: "seed", step: 1, placeholder: "random", inputmode: "numeric" });
  const cacheMode = h(
    "select",
    { name: "cacheMode" },
    h("option", { value: String(CacheMode.UNSPECIFIED) }, "Server default (use)"),
    h("option", { value: String(CacheMode.USE) }, "Use the cache"),
    h("option", { value: String(CacheMode.BYPASS) }, "Bypass the cache"),
    h("option", { value: String(CacheMode.REFRESH) }, "Refresh the cache"),
  );
  const system = h("textarea", { name: "system", rows: 2, placeholder: "Optional instructions for the model" });
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true, placeholder: "Ask something…" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const stop = h("button", { type: "button", disabled: true }, "Stop");
  const reset = h("button", { type: "button" }, "New conversation");
  const modelError = h("div");
  const formError = h("div");
  const transcript = h("ol", { class: "transcript", "aria-label": "Conversation" });
  const stats = h("section", { class: "stats", "aria-labelledby": "stats-title" }, h("h2", { id: "stats-title" }, "Last answer"), h("p", { class: "muted" }, "Nothing sent yet."));
  const serverStats = h("section", { class: "stats", "aria-labelledby": "server-stats-title" });

  const form = h(
    "form",
    { class: "chat-form", "aria-label": "Chat" },
    h(
      "div",
      { class: "grid params" },
      field("Model", modelSelect),
      field("Max tokens", maxTokens),
      field("Temperature", temperature, "0–2; empty: the model's default"),
      field("Top-p", topP, "(0, 1]; empty: default"),
      field("Seed", seed, "For reproducible sampling"),
      field("Cache", cacheMode),
    ),
    modelError,
    field("System prompt", system),
    field("Message", prompt, "Ctrl+Enter sends"),
    h("div", { class: "actions" }, send, stop, reset),
    formError,
  );

  replace(
    main,
    pageHeading("Chat playground", "Stream an answer from any model the LLM gateway serves, token by token."),
    h("div", { class: "chat-layout" }, h("div", { class: "chat-main" }, form, transcript), h("div", { class: "side" }, stats, serverStats)),
  );

  // The conversation sent with each request; a failed or stopped turn is not kept in it.
  let history: ChatMessage[] = [];
  let running: AbortController | undefined;
  signal.addEventListener("abort", () => running?.abort());

  api.llm.listModels({}, { signal }).then(
    (res) => {
      replace(
        modelSelect,
        res.models.length ? null : h("option", { value: "" }, "No models"),
        res.models.map((m) =>
          h("option", { value: m.id }, `${m.id} — ${m.provider}${m.source ? ` (${enumLabel(ModelSourceSchema, m.source)})` : ""}`),
        ),
      );
    },
    (err) => {
      replace(modelSelect, h("option", { value: "" }, "Could not load models"));
      replace(modelError, errorBox(err, "Listing models"));
    },
  );

  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener("click", () => running?.abort());
  reset.addEventListener("click", () => {
    running?.abort();
    history = [];
    replace(transcript);
    prompt.focus();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (running) return;
    const text = prompt.value.trim();
    if (!text || !modelSelect.value) return;
    void generate(text);
  });

  async function generate(text: string): Promise<void> {
    replace(formError);
    const userMsg = create(ChatMessageSchema, { role: Role.USER, content: text });
    const messages = [
      ...(system.value.trim() ? [create(ChatMessageSchema, { role: Role.SYSTEM, content: system.value.trim() })] : []),
      ...history,
      userMsg,
    ];
    const answer = h("div", { class: "content", "aria-live": "polite", "aria-busy": "true" });
    const answerItem = h("li", { class: "turn assistant" }, h("span", { class: "who" }, "Assistant"), answer);
    transcript.append(h("li", { class: "turn user" }, h("span", { class: "who" }, "You"), h("div", { class: "content" }, text)), answerItem);
    prompt.value = "";

    running = new AbortController();
    const abortAll = AbortSignal.any([running.signal, signal]);
    send.disabled = true;
    stop.disabled = false;
    const started = performance.now();
    let firstTokenMs: number | undefined;
    let deltas = 0;
    let done: GenerateStreamDone | undefined;
    try {
      const stream = api.llm.generateStream(
        {
          model: modelSelect.value,
          messages,
          maxTokens: optionalInt(maxTokens.value),
          temperature: optionalFloat(temperature.value),
          topP: optionalFloat(topP.value),
          seed: seed.value.trim() ? BigInt(seed.value.trim()) : undefined,
          cacheMode: Number(cacheMode.value) as CacheMode,
        },
        { signal: abortAll },
      );
      for await (const res of stream) {
        if (res.event.case === "textDelta") {
          firstTokenMs ??= performance.now() - started;
          deltas++;
          answer.append(res.event.value);
        } else if (res.event.case === "done") {
          done = res.event.value;
        }
      }
      const latencyMs = performance.now() - started;
      history.push(userMsg, create(ChatMessageSchema, { role: Role.ASSISTANT, content: answer.textContent ?? "" }));
      showStats(done, latencyMs, firstTokenMs, deltas);
      void showServerStats(done?.model ?? modelSelect.value);
      announce(`Answer complete: ${done?.usage?.outputTokens ?? deltas} tokens${done?.cached ? ", from the cache" : ""}.`);
    } catch (err) {
      if (running.signal.aborted) {
        // Stopped on purpose: keep what arrived, quietly; the turn stays out of the history.
        answerItem.append(h("p", { class: "muted" }, "Stopped."));
      } else {
        answerItem.classList.add("failed");
        answerItem.append(errorBox(err));
      }
      if (!answer.textContent) prompt.value = text;
      showStats(undefined, performance.now() - started, firstTokenMs, deltas);
    } finally {
      answer.setAttribute("aria-busy", "false");
      running = undefined;
      send.disabled = false;
      stop.disabled = true;
    }
  }

  /** The gateway's own figures for the model, measured on the server since it started. */
  async function showServerStats(model: string): Promise<void> {
    let m: ModelMetrics | undefined;
    try {
      m = (await api.llm.getMetrics({ model }, { signal })).models[0];
    } catch (err) {
      replace(serverStats, h("h2", { id: "server-stats-title" }, "On the server"), errorBox(err, "GetMetrics"));
      return;
    }
    if (!m) return replace(serverStats);
    const p50 = (s: { count: bigint; p50Ms: number } | undefined) => (s && s.count > 0n ? formatMs(s.p50Ms) : "");
    replace(
      serverStats,
      h("h2", { id: "server-stats-title" }, "On the server"),
      h("p", { class: "model-line" }, h("code", null, m.model), ` since the server started`),
      facts(
        [
          ["Requests", String(m.requests)],
          ["Errors", String(m.errors)],
          ["Cache hits", String(m.cacheHits)],
          ["Latency p50", p50(m.latency)],
          ["First token p50", p50(m.timeToFirstToken)],
          ["Output tokens", String(m.outputTokens)],
        ],
        "facts numbers",
      ),
    );
  }

  function showStats(done: GenerateStreamDone | undefined, latencyMs: number, firstTokenMs: number | undefined, deltas: number): void {
    const seconds = latencyMs / 1000;
    const out = done?.usage?.outputTokens;
    replace(
      stats,
      h("h2", { id: "stats-title" }, "Last answer"),
      done
        ? h("p", { class: "model-line" }, h("code", null, done.model), ` from ${done.provider}${done.upstreamModel && done.upstreamModel !== done.model ? ` (${done.upstreamModel})` : ""}`)
        : null,
      facts([
        ["Finish reason", done ? enumLabel(FinishReasonSchema, done.finishReason) : "did not finish"],
        ["Input tokens", done?.usage ? String(done.usage.inputTokens) : ""],
        ["Output tokens", out !== undefined ? String(out) : ""],
        ["Text pieces streamed", String(deltas)],
        ["Time to first token", firstTokenMs !== undefined ? formatMs(firstTokenMs) : ""],
        ["Latency", formatMs(latencyMs)],
        ["Output tokens per second", out && seconds > 0 ? (out / seconds).toFixed(1) : ""],
        ["Cached", done ? (done.cached ? "yes" : "no") : ""],
      ], "facts numbers"),
      h("p", { class: "hint" }, "Times are measured in this browser, so they include the network."),
    );
  }
};

function optionalInt(v: string): number | undefined {
  const t = v.trim();
  return t ? Math.trunc(Number(t)) : undefined;
}

function optionalFloat(v: string): number | undefined {
  const t = v.trim();
  return t ? Number(t) : undefined;
}
