// Entry point: read the config, start the server, shut down gracefully on SIGTERM/SIGINT.
// First import: the V8 heap settings must hold before the modules allocate.
import "./platform/v8-heap.js";
import net from "node:net";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { assertNotExposed } from "./platform/auth.js";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    assertNotExposed(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === "ENOENT") return fail(new ConfigError(`config file not found (OPENLOOP_CONFIG or ./openloop.yaml): ${e.path ?? e.message}`));
    return fail(err);
  }
  if (process.argv[2] === "migrate") return migrateAndExit(config);
  // Fail fast on a taken port, before the modules spend seconds loading (models, stores).
  try {
    await probePort(config.server.host, config.server.port);
  } catch (err) {
    return fail(err);
  }
  // The server is loaded after the config is known to be good, so bad settings are reported at once.
  const { createLogger, startServer } = await import("./server.js");
  const log = createLogger(config);
  let server;
  try {
    server = await startServer(config, { log });
  } catch (err) {
    return fail(err);
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, "second signal: exiting without waiting for in-flight calls");
      process.exit(1);
    }
    log.info({ signal }, "signal received");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** `openloop migrate`: brings the shared store's schema up to date, then exits. */
async function migrateAndExit(config: Config): Promise<void> {
  const [{ createLogger }, { runMigrateCommand }] = await Promise.all([import("./server.js"), import("./platform/postgres/migrate-command.js")]);
  try {
    const { applied, version } = await runMigrateCommand(config, createLogger(config));
    process.stdout.write(`openloop: schema at version ${version}${applied.length ? ` (applied ${applied.join(", ")})` : " (nothing to apply)"}\n`);
    process.exit(0);
  } catch (err) {
    fail(err);
  }
}

/** Binds and releases the port; the real bind happens when the server starts. */
function probePort(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function fail(err: unknown): void {
  if (err instanceof ConfigError) {
    process.stderr.write(`openloop: ${err.message}\n`);
    process.exit(2);
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE" || e?.code === "EACCES" || e?.code === "EADDRNOTAVAIL") {
    process.stderr.write(`openloop: cannot listen (server.host/server.port): ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`openloop: failed to start: ${e?.stack ?? String(err)}\n`);
  process.exit(1);
}

void main();
