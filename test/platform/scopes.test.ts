// Every RPC in the contract has a scope: a new method or service cannot ship unscoped.
import { readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { METHOD_SCOPES, OPEN_SERVICES, scopeFor } from "../../src/platform/scopes.js";

const GEN = path.resolve(import.meta.dirname, "../../gen");

/** Every service generated from proto/. */
async function generatedServices(): Promise<DescService[]> {
  const files = readdirSync(GEN, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("_pb.ts"));
  const services: DescService[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(GEN, f)).href)) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      if ((value as { kind?: string } | null)?.kind === "service") services.push(value as DescService);
    }
  }
  return services;
}

describe("the scope table", () => {
  it("gives every method of every generated service a scope, unless the service is open", async () => {
    const services = await generatedServices();
    expect(services.length).toBeGreaterThanOrEqual(7);
    const unscoped = services
      .filter((s) => !OPEN_SERVICES.has(s.typeName))
      .flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`))
      .filter((rpc) => {
        const [service, method] = rpc.split("/");
        return METHOD_SCOPES[service]?.[method] === undefined;
      });
    expect(unscoped).toEqual([]);
  });

  it("lists no method the contract does not have", async () => {
    const known = new Set((await generatedServices()).flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`)));
    const stale = Object.entries(METHOD_SCOPES).flatMap(([service, methods]) => Object.keys(methods).map((m) => `${service}/${m}`)).filter((rpc) => !known.has(rpc));
    expect(stale).toEqual([]);
  });

  it("needs admin for a method it does not list, and nothing for health and reflection", () => {
    expect(scopeFor("openloop.llm.v1.LLMService", "NewMethod")).toBe("admin");
    expect(scopeFor("some.Other", "Call")).toBe("admin");
    expect(scopeFor("grpc.health.v1.Health", "Check")).toBeUndefined();
    expect(scopeFor("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo")).toBeUndefined();
  });
});
