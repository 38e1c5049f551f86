// Connection settings: server URL, transport (Connect or gRPC-Web) and the API key.
import { defaultBaseUrl, normaliseBaseUrl, type TransportKind } from "../api.js";
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
  replace(main, pageHeading("Connection", "How this console reaches the openloop server."), form);
  let api = ctx.api;

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
        // Any authenticated call proves URL, transport, CORS and key at once.
        const res = await api.llm.listModels({}, { signal: ctx.signal });
        replace(result, h("p", { class: "ok", role: "status" }, `Connected: the server lists ${res.models.length} model${res.models.length === 1 ? "" : "s"}.`));
      } catch (err) {
        replace(result, errorBox(err, "Connection test"));
      }
    });
  });

  forget.addEventListener("click", () => {
    apiKey.value = "";
    api = ctx.applySettings({ ...api.settings, apiKey: "" });
    replace(result, h("p", { class: "ok", role: "status" }, "The key is forgotten."));
  });
};
