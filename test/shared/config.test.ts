import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../../src/config.js";

function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

const SHARED_ENV = {
  OPENLOOP_STORAGE: "shared",
  OPENLOOP_POSTGRES_URL: "postgres://openloop@127.0.0.1:5432/openloop",
  OPENLOOP_S3_ENDPOINT: "http://127.0.0.1:8333",
  OPENLOOP_S3_BUCKET: "openloop-artifacts",
  OPENLOOP_S3_REGION: "eu-west-1",
  OPENLOOP_S3_ACCESS_KEY_ID: "AKIDEXAMPLE",
  OPENLOOP_S3_SECRET_ACCESS_KEY: "secret-example",
  OPENLOOP_REDIS_URL: "redis://127.0.0.1:6379",
};

describe("storage configuration", () => {
  it("defaults to embedded storage with no setup", () => {
    const config = parseConfig({});
    expect(config.storage).toBe("embedded");
    expect(config.postgres).toBeUndefined();
    expect(config.objectStore).toBeUndefined();
  });

  it("reads shared storage entirely from the environment", () => {
    const config = loadConfig(SHARED_ENV, "/nonexistent");
    expect(config.storage).toBe("shared");
    expect(config.postgres?.url).toBe(SHARED_ENV.OPENLOOP_POSTGRES_URL);
    expect(config.postgres?.pool.connectionTimeoutMs).toBeGreaterThan(0);
    expect(config.objectStore).toMatchObject({
      endpoint: "http://127.0.0.1:8333",
      bucket: "openloop-artifacts",
      region: "eu-west-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret-example" },
      prefix: "",
    });
    expect(config.redis?.url).toBe(SHARED_ENV.OPENLOOP_REDIS_URL);
  });

  it.each([
    ["OPENLOOP_POSTGRES_URL", "postgres.url"],
    ["OPENLOOP_S3_ENDPOINT", "objectStore"],
    ["OPENLOOP_REDIS_URL", "redis.url"],
  ])("refuses shared storage without %s, naming %s", (missing, setting) => {
    const env: Record<string, string> = { ...SHARED_ENV };
    delete env[missing];
    if (missing === "OPENLOOP_S3_ENDPOINT") delete env.OPENLOOP_S3_BUCKET;
    expect(configErrorOf(() => loadConfig(env, "/nonexistent"))).toContain(setting);
  });

  it("names a bad storage mode", () => {
    expect(configErrorOf(() => parseConfig({ storage: "cloud" }))).toContain("storage");
  });
});
