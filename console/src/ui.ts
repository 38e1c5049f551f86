// Shared pieces of every page: error and status boxes, formatting, page headings.
import type { DescEnum } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { describeError } from "./api.js";
import { fieldViolations } from "./error-details.js";
import { h, type Child } from "./dom.js";

/** An error as its gRPC code name and message, announced to screen readers. */
export function errorBox(err: unknown, what?: string): HTMLDivElement {
  const { code } = describeError(err);
  let { message } = describeError(err);
  const violations = fieldViolations(err);
  if (violations.length > 0) {
    // The message repeats the list after a summary; show the summary and the full list once.
    const at = message.indexOf(`${violations[0].field}: `);
    if (at > 0) message = message.slice(0, at).replace(/[:;\s]+$/, "");
  }
  return h(
    "div",
    { class: "error", role: "alert" },
    h(
      "p",
      null,
      what ? h("span", null, `${what}: `) : null,
      h("strong", { class: "code" }, code),
      " ",
      h("span", { class: "message" }, message),
      code === "UNAUTHENTICATED" && !location.hash.startsWith("#/settings") ? [" ", h("a", { href: "#/settings" }, "Set the API key")] : null,
    ),
    violations.length > 0
      ? h("ul", { class: "violations" }, violations.map((v) => h("li", null, h("code", null, v.field), " ", v.description)))
      : null,
  );
}

/** The page's heading; focused on navigation so screen readers announce the page. */
export function pageHeading(title: string, intro?: string): Child[] {
  return [h("h1", { tabindex: -1, id: "page-title" }, title), intro ? h("p", { class: "intro" }, intro) : null];
}

/** "Registry / my-model": the way back to the list a detail page belongs to. */
export function breadcrumb(parentHref: string, parentLabel: string, current: string): HTMLElement {
  return h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: parentHref }, parentLabel), " / ", h("span", { "aria-current": "page" }, current));
}

export function loading(what: string): HTMLParagraphElement {
  return h("p", { class: "muted", role: "status" }, `Loading ${what}…`);
}

/** "STOP" for FINISH_REASON_STOP: the value's name without the enum's shared prefix, lowercased. */
export function enumLabel(schema: DescEnum, value: number): string {
  const v = schema.value[value];
  if (!v) return String(value);
  const prefix = schema.sharedPrefix?.toUpperCase() ?? "";
  const name = v.name.startsWith(prefix) ? v.name.slice(prefix.length) : v.name;
  return name.toLowerCase().replaceAll("_", " ");
}

export function formatBytes(n: number | bigint): string {
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function formatTime(ts: Timestamp | undefined): string {
  if (!ts) return "";
  const d = timestampDate(ts);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A <time> element with the ISO date for machines and a local rendering for people. */
export function timeEl(ts: Timestamp | undefined): Child {
  if (!ts) return "";
  return h("time", { datetime: timestampDate(ts).toISOString() }, formatTime(ts));
}

export function formatNumber(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const abs = Math.abs(x);
  if (abs >= 1000 || abs < 0.001) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

/** Says something to screen-reader users without moving focus. */
export function announce(text: string): void {
  const el = document.getElementById("announcer");
  if (!el) return;
  el.textContent = "";
  // A fresh text node after a tick is announced even when it repeats the last one.
  setTimeout(() => (el.textContent = text), 50);
}

/** Parses "key=value" lines into a map; blank lines are skipped. Throws on a line without "=". */
export function parseKeyValueLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`line ${i + 1}: expected key=value, got '${line}'`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** Splits a comma-separated list, dropping empty items. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A button that shows a busy state while its async action runs, and cannot be pressed twice. */
export function busy<T>(button: HTMLButtonElement, action: () => Promise<T>): Promise<T> {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  return action().finally(() => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
}
