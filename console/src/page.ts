// What every page gets from the router.
import type { Api, Settings } from "./api.js";

export interface PageContext {
  /** Clients of the public services, as currently configured. */
  readonly api: Api;
  /** Path segments after the page name: "#/registry/my-model" gives ["my-model"]. */
  readonly params: readonly string[];
  /** Aborted when the user leaves the page: pass it to every call. */
  readonly signal: AbortSignal;
  /** Stores new connection settings and returns clients that use them. */
  applySettings(settings: Settings): Api;
}

/** Renders a page into `main`; data may arrive later, but the heading is there at once. */
export type Page = (main: HTMLElement, ctx: PageContext) => void;
