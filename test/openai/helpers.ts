// Runs the Python SDK script (python_sdk_check.py) against a server, for the OpenAI API tests.
import path from "node:path";
import { run, venvPython } from "../support/tools.js";

const PYTHON_CHECK = path.join(import.meta.dirname, "python_sdk_check.py");

/** Runs the Python script against a server; returns what it printed. */
export async function pythonCheck(baseUrl: string, key: string, chatModel: string, embedModel: string): Promise<PythonResult> {
  const r = await run(venvPython(), [PYTHON_CHECK, `${baseUrl}/v1`, key, chatModel, embedModel], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`python_sdk_check.py exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as PythonResult;
}

export interface PythonResult {
  chat: { text: string; finish_reason: string; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
  stream: { text: string; finish_reasons: string[]; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null };
  embeddings: { float: number[][]; base64: number[][]; usage: { prompt_tokens: number; total_tokens: number } };
  errors: { n?: { status: number; param: string; type: string }; model?: { status: number; code: string }; key?: { status: number } };
}

