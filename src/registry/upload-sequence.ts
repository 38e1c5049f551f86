// The order every version upload follows, whatever keeps its bytes (fs-storage.ts, pg-storage.ts):
// artifacts one at a time, distinct names (ignoring case), a bounded count, nothing after
// commit or abort.
import { RegistryError } from "./errors.js";
import { LIMITS } from "./names.js";

export class UploadSequence {
  private readonly namesLower = new Set<string>();
  private state: "open" | "committed" | "aborted" = "open";

  assertOpen(): void {
    if (this.state !== "open") throw new RegistryError("precondition", `the upload was already ${this.state}`);
  }

  /** Admits the next artifact, given the one still open (if any); throws when it may not start. */
  admit(name: string, stillOpen: string | undefined): void {
    this.assertOpen();
    if (stillOpen !== undefined) throw new RegistryError("precondition", `artifact '${stillOpen}' is still open; finish it before starting '${name}'`);
    const lower = name.toLowerCase();
    if (this.namesLower.has(lower)) {
      throw new RegistryError("invalid", `artifact '${name}' appears twice in this version (names are compared ignoring case, and one artifact's chunks must be contiguous); give each artifact a distinct name`);
    }
    if (this.namesLower.size >= LIMITS.maxArtifactsPerVersion) throw new RegistryError("invalid", `a version holds at most ${LIMITS.maxArtifactsPerVersion} artifacts`);
    this.namesLower.add(lower);
  }

  committed(): void {
    this.state = "committed";
  }

  /** Marks the upload aborted; false when it was no longer open (nothing left to undo). */
  abort(): boolean {
    if (this.state !== "open") return false;
    this.state = "aborted";
    return true;
  }
}
