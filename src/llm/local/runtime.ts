// One llama.cpp runtime per process, shared by every in-process model (default and registry GGUFs).
import os from "node:os";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import type { Logger } from "pino";

let runtime: Promise<Llama> | undefined;

/**
 * The shared CPU runtime. `build: "never"` means node-llama-cpp uses its prebuilt binary and
 * never downloads or compiles anything; `gpu: false` keeps it from probing CUDA/Vulkan.
 * llama.cpp's own log lines go to `log` (the first caller's logger) instead of the console.
 */
export function llamaRuntime(log?: Logger): Promise<Llama> {
  runtime ??= getLlama({
    build: "never",
    gpu: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trimEnd();
      if (!text || !log) return;
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) log.error({ component: "llama.cpp" }, text);
      else log.warn({ component: "llama.cpp" }, text);
    },
  }).catch((err: unknown) => {
    runtime = undefined;
    throw err;
  });
  return runtime;
}

/**
 * Threads per context when the config does not say: every core but one. Token generation is
 * one short matrix pass per token, and llama.cpp's threads spin while they wait for each
 * other, so on a small shared machine a thread per core starves the event loop that serves
 * the RPCs (measured on a 2-core machine: 16 tokens in 0.2 s with 1 thread, 2.4 s with 2).
 */
export function defaultThreads(): number {
  return Math.max(1, os.availableParallelism() - 1);
}
