import { mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../../src/config.js";
import { ROOT, run } from "../support/tools.js";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "openloop-config-"));
});

function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration errors", () => {
  it.each([
    [{ server: { port: "50051" } }, "server.port"],
    [{ server: { port: 70000 } }, "server.port"],
    [{ server: { apiKeys: ["short"] } }, "server.apiKeys.0"],
    [{ server: { maxMessageBytes: 0 } }, "server.maxMessageBytes"],
    [{ server: { shutdownGraceMs: -1 } }, "server.shutdownGraceMs"],
    [{ log: { level: "loud" } }, "log.level"],
    [{ redis: { url: "not a url" } }, "redis.url"],
    [{ server: { hots: "127.0.0.1" } }, "hots"],
  ])("names the bad setting in %j", (raw, setting) => {
    expect(configErrorOf(() => parseConfig(raw))).toContain(setting);
  });

  it("names OPENLOOP_PORT when it is not a number", () => {
    expect(configErrorOf(() => loadConfig({ OPENLOOP_PORT: "http" }, tmp))).toContain("OPENLOOP_PORT");
  });

  it("names the file when the YAML does not parse", async () => {
    const file = path.join(tmp, "broken.yaml");
    await writeFile(file, "server: [unclosed\n");
    expect(configErrorOf(() => loadConfig({ OPENLOOP_CONFIG: file }, tmp))).toContain(file);
  });
});

describe("environment overrides", () => {
  it("apply OPENLOOP_* over the config file", async () => {
    const file = path.join(tmp, "openloop.yaml");
    await writeFile(file, "server:\n  host: 127.0.0.1\n  port: 1234\n  apiKeys: [file-key-0123456789]\ndataDir: from-file\n");
    const config = loadConfig(
      {
        OPENLOOP_CONFIG: file,
        OPENLOOP_PORT: "4321",
        OPENLOOP_HOST: "0.0.0.0",
        OPENLOOP_API_KEYS: "env-key-0123456789, env-key-abcdefghij",
        OPENLOOP_REDIS_URL: "redis://127.0.0.1:6390",
        OPENLOOP_DATA_DIR: "/var/lib/openloop",
        OPENLOOP_CORS_ORIGINS: "https://a.example,https://b.example",
        OPENLOOP_ALLOW_OPEN: "true",
        OPENLOOP_LOG_LEVEL: "debug",
      },
      tmp,
    );
    expect(config.server).toMatchObject({
      port: 4321,
      host: "0.0.0.0",
      apiKeys: ["env-key-0123456789", "env-key-abcdefghij"],
      corsOrigins: ["https://a.example", "https://b.example"],
      allowOpen: true,
    });
    expect(config.redis?.url).toBe("redis://127.0.0.1:6390");
    expect(config.dataDir).toBe("/var/lib/openloop");
    expect(config.log.level).toBe("debug");
  });

  it("leave the file's values when unset", async () => {
    const file = path.join(tmp, "only-file.yaml");
    await writeFile(file, "server:\n  port: 1234\ndataDir: from-file\n");
    const config = loadConfig({ OPENLOOP_CONFIG: file }, tmp);
    expect(config.server.port).toBe(1234);
    expect(config.dataDir).toBe("from-file");
  });

  it("fall back to the embedded defaults with no file and no variables", async () => {
    const config = loadConfig({}, await mkdtemp(path.join(tmp, "empty-")));
    expect(config.server).toMatchObject({ host: "127.0.0.1", port: 50051, apiKeys: [], maxMessageBytes: 16 * 1024 * 1024 });
    expect(config.dataDir).toBe("data");
    expect(config.redis).toBeUndefined();
  });
});

describe("src/main.ts on bad settings", () => {
  const main = (env: Record<string, string>) => {
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("OPENLOOP_") || k.startsWith("OPENLOOP_TEST_")) clean[k] = v;
    return run(process.execPath, ["--import", "tsx", path.join(ROOT, "src/main.ts")], {
      cwd: ROOT, // tsx resolves from here; ROOT has no openloop.yaml
      env: { ...clean, OPENLOOP_DATA_DIR: path.join(tmp, "data"), OPENLOOP_PORT: "0", ...env },
    });
  };

  it("exits 2 naming the setting", async () => {
    const file = path.join(tmp, "bad.yaml");
    await writeFile(file, "server:\n  maxMessageBytes: -5\n");
    const r = await main({ OPENLOOP_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("server.maxMessageBytes");
  });

  it("exits 2 when the config file does not exist", async () => {
    const r = await main({ OPENLOOP_CONFIG: path.join(tmp, "missing.yaml") });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing.yaml");
  });

  it("exits 2 rather than run open on a non-loopback address", async () => {
    const r = await main({ OPENLOOP_HOST: "0.0.0.0" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("server.apiKeys");
  });

  it("exits 2 naming server.port when the port is taken", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const r = await main({ OPENLOOP_PORT: String((blocker.address() as net.AddressInfo).port) });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("server.port");
    } finally {
      blocker.close();
    }
  });
});
