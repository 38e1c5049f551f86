// The rules a new version must pass against a model's existing versions, shared by every
// RegistryStorage: one version string once (ignoring case), one version scheme per model.
import { RegistryError } from "./errors.js";
import { tryParseVersion, type VersionScheme } from "./version-order.js";

/** Throws already_exists or precondition when `version` may not join `existing` (a model's versions). */
export function checkVersionFree(model: string, version: string, existing: Iterable<string>): void {
  const lower = version.toLowerCase();
  let other: VersionScheme | undefined;
  for (const v of existing) {
    if (v === version) throw new RegistryError("already_exists", `model '${model}' already has version '${version}'; versions are immutable, register another version`);
    if (v.toLowerCase() === lower) throw new RegistryError("already_exists", `model '${model}' already has version '${v}', which differs from '${version}' only by case`);
    other ??= tryParseVersion(v)?.scheme;
  }
  const scheme = tryParseVersion(version)!.scheme;
  if (other && other !== scheme) {
    throw new RegistryError(
      "precondition",
      `model '${model}' uses ${other === "integer" ? "integer versions (e.g. 3)" : "semantic versions (e.g. 1.2.0)"}; register '${version}' in that scheme${other === "integer" ? " or leave the version empty to get the next one" : ""}`,
    );
  }
}

/** Throws precondition when a model of semantic versions is asked for an automatic (integer) version. */
export function checkAutoVersionAllowed(model: string, existingScheme: VersionScheme | undefined): void {
  if (existingScheme === "semver") {
    throw new RegistryError("precondition", `model '${model}' uses semantic versions; give the version to register (e.g. 1.2.0)`);
  }
}
