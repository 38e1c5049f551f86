// A private PostgreSQL 15 cluster on a free loopback port (initdb in a temp dir), for tests that
// need the shared storage backend, including stopping and restarting it mid-test.
import { execFile } from "node:child_process";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./redis.js";

const run = promisify(execFile);

export interface PostgresProcess {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  /** Stops the server at once (like a crash: `pg_ctl stop -m immediate`). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  teardown(): Promise<void>;
  /** A fresh, empty database on this server; returns its URL. */
  createDatabase(name: string): Promise<string>;
}

function binDir(): string {
  for (const v of ["15", "16", "17", "14"]) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(path.join(dir, "initdb"))) return dir;
  }
  throw new Error("PostgreSQL is not installed (apt-get install postgresql): tests of the shared storage need initdb and pg_ctl");
}

export async function startPostgres(): Promise<PostgresProcess> {
  const bin = binDir();
  const dir = await mkdtemp(path.join(os.tmpdir(), "openloop-pg-"));
  const data = path.join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
  const pgCommand = (cmd: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", path.join(bin, cmd), ...args]) : run(path.join(bin, cmd), args);
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const user = asRoot ? "postgres" : os.userInfo().username;
  await pgCommand("initdb", ["-D", data, "-A", "trust", "-U", user, "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  // fsync off is safe here: a stop kills processes, not the OS, so written data survives; commits still wait for their WAL write.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  const start = async () => {
    await pgCommand("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "server.log"), "-w", "-t", "30", "start"]);
  };
  const stop = async () => {
    await pgCommand("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
  };
  await start();
  const base = `postgres://${user}@127.0.0.1:${port}`;
  return {
    port,
    url: `${base}/postgres`,
    start,
    stop,
    async teardown() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    async createDatabase(name: string) {
      await run(path.join(bin, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", `CREATE DATABASE "${name}"`]);
      return `${base}/${name}`;
    },
  };
}
