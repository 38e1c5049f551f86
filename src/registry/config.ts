// Settings of the registry service, the `registry:` section of the config file.
import { z } from "zod";

const MiB = 1024 * 1024;

export const registryConfigSchema = z
  .object({
    /** Directory of the embedded registry; default `<dataDir>/registry`. */
    dir: z.string().min(1).optional(),
    /** Largest artifact accepted, in bytes (default 32 GiB: big GGUF models fit). */
    maxArtifactBytes: z.number().int().positive().default(32 * 1024 * MiB),
    /** Size of the data messages DownloadArtifact sends, in bytes (64 KiB to 4 MiB). */
    downloadChunkBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(4 * MiB)
      .default(1 * MiB),
    /** Uploads accepted at once; more get RESOURCE_EXHAUSTED (each holds one open file). */
    maxConcurrentUploads: z.number().int().min(1).max(1024).default(16),
    /** An upload that sends nothing for this long is dropped with DEADLINE_EXCEEDED, in milliseconds. */
    uploadIdleTimeoutMs: z.number().int().min(100).default(5 * 60 * 1000),
    /** Re-hash artifacts while they are downloaded and end the stream with DATA_LOSS if the stored bytes changed. */
    verifyOnDownload: z.boolean().default(true),
    /**
     * Write and read artifact files with O_DIRECT (around the page cache, src/registry/direct-io.ts)
     * where the filesystem allows it; false for buffered files (a network filesystem with slow
     * synchronous writes, say).
     */
    directIo: z.boolean().default(true),
  })
  .strict()
  .prefault({});

export type RegistryConfig = z.infer<typeof registryConfigSchema>;
