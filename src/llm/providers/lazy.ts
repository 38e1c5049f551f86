// A provider whose code is loaded on its first call, so the server loads only the providers a
// request actually reaches: node-llama-cpp's native runtime adds 25-50 MB to the process when
// imported (the remote providers' modules are small since they send their requests on undici).
import { ProviderError, type Provider, type ProviderRequest, type ProviderResult, type StreamEnd } from "./provider.js";

export function lazyProvider(name: string, load: () => Promise<Provider>, options: { canList: boolean; canEmbed?: boolean }): Provider {
  let loading: Promise<Provider> | undefined;
  let loaded: Provider | undefined;
  let closed = false;
  const get = (): Promise<Provider> =>
    (loading ??= load().then(
      (p) => {
        loaded = p;
        // Closed while loading: release what was just built.
        if (closed) void p.close?.();
        return p;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    ));
  const provider: Provider = {
    name,
    stream(req: ProviderRequest, onDelta: (text: string) => void): Promise<StreamEnd> {
      return loaded ? loaded.stream(req, onDelta) : get().then((p) => p.stream(req, onDelta));
    },
    generate(req: ProviderRequest): Promise<ProviderResult> {
      return loaded ? loaded.generate(req) : get().then((p) => p.generate(req));
    },
    async close(): Promise<void> {
      closed = true;
      await loaded?.close?.();
    },
  };
  if (options.canEmbed) {
    provider.embed = async (req) => {
      const p = loaded ?? (await get());
      if (!p.embed) throw new ProviderError(`provider '${name}' has no embeddings`, "bad_request");
      return p.embed(req);
    };
  }
  if (options.canList) provider.listModels = async (signal) => (await get()).listModels?.(signal) ?? [];
  return provider;
}
