// Entry point: hash routing between pages, the connection settings, focus on navigation.
import "./style.css";
import { createApi, loadSettings, saveSettings, type Api, type Settings } from "./api.js";
import { h, replace } from "./dom.js";
import type { Page, PageContext } from "./page.js";
import { chatPage } from "./pages/chat.js";
import { registryPage } from "./pages/registry.js";
import { featuresPage } from "./pages/features.js";
import { onlinePage } from "./pages/online.js";
import { pipelinesPage } from "./pages/pipelines.js";
import { settingsPage } from "./pages/settings.js";
import { pageHeading } from "./ui.js";

const pages: Record<string, { title: string; page: Page }> = {
  chat: { title: "Chat", page: chatPage },
  registry: { title: "Registry", page: registryPage },
  features: { title: "Features", page: featuresPage },
  online: { title: "Online models", page: onlinePage },
  pipelines: { title: "Pipelines", page: pipelinesPage },
  settings: { title: "Connection", page: settingsPage },
};

const main = document.getElementById("main") as HTMLElement;
const status = document.getElementById("conn-status") as HTMLElement;
let api: Api = createApi(loadSettings());
let current: AbortController | undefined;

function parseRoute(): { name: string; params: string[] } {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(safeDecode);
  return { name: parts[0] ?? "chat", params: parts.slice(1) };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function render(focus: boolean): void {
  current?.abort(); // stops the previous page's streams and requests
  current = new AbortController();
  const { name, params } = parseRoute();
  const entry = pages[name];
  for (const a of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  replace(main);
  document.title = `${entry?.title ?? "Not found"} · openloop console`;
  const ctx: PageContext = { api, params, signal: current.signal, applySettings };
  if (!entry) {
    replace(main, pageHeading("Page not found", `There is no page '${name}'.`), h("p", null, h("a", { href: "#/chat" }, "Go to the chat playground")));
  } else {
    entry.page(main, ctx);
  }
  if (focus) document.getElementById("page-title")?.focus();
}

function showConnection(s: Settings): void {
  const host = s.baseUrl === location.origin ? "this server" : s.baseUrl;
  replace(
    status,
    h("a", { href: "#/settings" }, `${s.transport === "grpc-web" ? "gRPC-Web" : "Connect"} · ${host} · ${s.apiKey ? "key set" : "no key"}`),
  );
}

function applySettings(s: Settings): Api {
  saveSettings(s);
  api = createApi(s);
  showConnection(s);
  return api;
}

document.getElementById("skip-link")?.addEventListener("click", (e) => {
  // The fragment is the router's; move focus by hand instead.
  e.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", () => render(true));
showConnection(api.settings);
if (!location.hash) history.replaceState(null, "", "#/chat");
render(false);
