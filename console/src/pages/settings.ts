// Connection settings: server URL, transport (Connect or gRPC-Web) and the API key, and
// what the server says that key may do (its name, scopes and limits).
import { Code, ConnectError } from "@connectrpc/connect";
import { defaultBaseUrl, normaliseBaseUrl, type Api, type KeyInfo, type TransportKind } from "../api.js";
import { field, h, replace } from "../dom.js";
import type { Page } from "../page.js";
import { busy, errorBox, pageHeading } from "../ui.js";

export const settingsPage: Page = (main, ctx) => {
  const s = ctx.api.settings;
  const baseUrl = h("input", { type: "url", name: "baseUrl", required: true, value: s.baseUrl, autocomplete: "url", spellcheck: "false" });
  const apiKey = h("input", { type: "password", name: "apiKey", value: s.apiKey, autocomplete: "off", spellcheck: "false" });
  const radio = (value: TransportKind, label: string, hint: string) => {
    const input = h("input", { type: "radio", name: "transport", value, id: `transport-${value}`, checked: s.transport === value, "aria-describedby": `transport-${value}-hint` });
    return h("div", { class: "check" }, input, h("label", { for: input.id }, label), h("small", { class: "hint", id: `transport-${value}-hint` }, hint));
  };
  const save = h("button", { type: "submit", class: "primary" }, "Save and test");
  const forget = h("button", { type: "button" }, "Forget the key");
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "page-title" },
    field("Server URL", baseUrl, `Where openloop listens. Default: this page's origin (${defaultBaseUrl()}). Another origin must be in the server's server.corsOrigins.`),
    h("fieldset", null, h("legend", null, "Transport"), radio("connect", "Connect", "(binary, over HTTP/1.1 or HTTP/2)"), radio("grpc-web", "gRPC-Web", "(what gRPC-Web proxies speak)")),
    field("API key", apiKey, "Sent as 'authorization: Bearer <key>'. Kept only for this browser tab (sessionStorage)."),
    h("div", { class: "actions" }, save, forget),
    result,
  );
  const keyPanel = h("section", { class: "card narrow", "aria-labelledby": "key-title" });
  replace(main, pageHeading("Connection", "How this console reaches the openloop server."), form, keyPanel);
  let api = ctx.api;
  void showKey(keyPanel, api, ctx.signal);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    let url: string;
    try {
      url = normaliseBaseUrl(baseUrl.value);
    } catch (err) {
      baseUrl.setAttribute("aria-invalid", "true");
      replace(result, h("div", { class: "error", role: "alert" }, h("p", null, `Server URL: ${(err as Error).message}`)));
      return;
    }
    baseUrl.removeAttribute("aria-invalid");
    const transport = (form.querySelector<HTMLInputElement>("input[name=transport]:checked")?.value ?? "connect") as TransportKind;
    api = ctx.applySettings({ baseUrl: url, transport, apiKey: apiKey.value.trim() });
    void busy(save, async () => {
      replace(result, h("p", { class: "muted", role: "status" }, "Testing the connection…"));
      try {
        // The key first (URL, CORS and key), then one call through the chosen transport.
        await showKey(keyPanel, api, ctx.signal, true);
        const res = await api.llm.listModels({}, { signal: ctx.signal });
        replace(result, h("p", { class: "ok", role: "status" }, `Connected: the server lists ${res.models.length} model${res.models.length === 1 ? "" : "s"}.`));
      } catch (err) {
        // A key without llm:read still proves the connection.
        if (ConnectError.from(err).code === Code.PermissionDenied) replace(result, h("p", { class: "ok", role: "status" }, "Connected. This key may not list models."));
        else replace(result, errorBox(err, "Connection test"));
      }
    });
  });

  forget.addEventListener("click", () => {
    apiKey.value = "";
    api = ctx.applySettings({ ...api.settings, apiKey: "" });
    replace(result, h("p", { class: "ok", role: "status" }, "The key is forgotten."));
    void showKey(keyPanel, api, ctx.signal);
  });
};

/** Fills the key panel with what the server says about the current key; rethrows when asked. */
async function showKey(panel: HTMLElement, api: Api, signal: AbortSignal, rethrow = false): Promise<void> {
  const title = h("h2", { id: "key-title" }, "This key");
  replace(panel, title, h("p", { class: "muted", role: "status" }, "Asking the server about this key…"));
  let info: KeyInfo | undefined;
  try {
    info = await api.keyInfo(signal);
  } catch (err) {
    replace(panel, title, h("p", { class: "muted" }, "The server did not accept this key, so it grants nothing."));
    if (rethrow) throw err;
    return;
  }
  if (!info) return void replace(panel, title, h("p", { class: "muted" }, "This server does not say what keys may do."));
  if (!info.authRequired) return void replace(panel, title, h("p", null, "The server runs without API keys: every call is allowed."));
  const { requestsPerSecond, burst, concurrentStreams } = info.limits;
  const limits = [
    requestsPerSecond !== undefined ? `${requestsPerSecond} requests/s (bursts of ${burst ?? requestsPerSecond})` : null,
    concurrentStreams !== undefined ? `${concurrentStreams} streams at once` : null,
  ].filter((x): x is string => x !== null);
  replace(
    panel,
    title,
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Name"),
      h("dd", null, h("code", null, info.key ?? "")),
      h("dt", null, "Scopes"),
      h("dd", null, h("ul", { class: "plain scopes", "aria-label": "Scopes" }, info.scopes.map((s) => h("li", { class: "tag" }, s)))),
      h("dt", null, "Limits"),
      h("dd", null, limits.length > 0 ? limits.join(", ") : "none"),
    ),
    info.scopes.includes("admin") ? h("p", { class: "muted" }, "admin allows every call.") : null,
  );
}
