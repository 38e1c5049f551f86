// Shared helpers for the feature service tests: value builders, set builders, error details.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { Code } from "@connectrpc/connect";
import { expect } from "vitest";
import type { FeatureDefinitionSchema, TransformerSchema, ValidatorSchema } from "../../gen/openloop/feature/v1/feature_service_pb.js";
import type { FeatureValue } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

type ValueInit = Pick<FeatureValue, "kind"> | { kind: { case: string; value: unknown } };

export const dbl = (value: number) => ({ kind: { case: "doubleValue" as const, value } });
export const i64 = (value: bigint | number) => ({ kind: { case: "int64Value" as const, value: BigInt(value) } });
export const str = (value: string) => ({ kind: { case: "stringValue" as const, value } });
export const bool = (value: boolean) => ({ kind: { case: "boolValue" as const, value } });
export const dlist = (...values: number[]) => ({ kind: { case: "doubleList" as const, value: { values } } });
export const ilist = (...values: (bigint | number)[]) => ({ kind: { case: "int64List" as const, value: { values: values.map(BigInt) } } });
export const slist = (...values: string[]) => ({ kind: { case: "stringList" as const, value: { values } } });
export const blist = (...values: boolean[]) => ({ kind: { case: "boolList" as const, value: { values } } });

type Validator = MessageInitShape<typeof ValidatorSchema>;
type Transformer = MessageInitShape<typeof TransformerSchema>;
export type FeatureInit = MessageInitShape<typeof FeatureDefinitionSchema>;

export const range = (min?: number, max?: number): Validator => ({ kind: { case: "range", value: { min, max } } });
export const allowed = (...values: ValueInit[]): Validator => ({ kind: { case: "allowedValues", value: { values: values as never } } });
export const pattern = (regex: string): Validator => ({ kind: { case: "pattern", value: { regex } } });
export const listLength = (min?: number, max?: number): Validator => ({ kind: { case: "listLength", value: { min, max } } });

export const standardize = (mean: number, std: number): Transformer => ({ kind: { case: "standardize", value: { mean, std } } });
export const minMax = (min: number, max: number): Transformer => ({ kind: { case: "minMaxScale", value: { min, max } } });
export const log1p = (): Transformer => ({ kind: { case: "log1p", value: {} } });
export const clip = (min?: number, max?: number): Transformer => ({ kind: { case: "clip", value: { min, max } } });
export const bucketize = (...boundaries: number[]): Transformer => ({ kind: { case: "bucketize", value: { boundaries } } });
export const oneHot = (vocabulary: string[], unknownSlot = false): Transformer => ({ kind: { case: "oneHot", value: { vocabulary, unknownSlot } } });
export const hashBucket = (numBuckets: number): Transformer => ({ kind: { case: "hashBucket", value: { numBuckets } } });
export const fillMissing = (value: ValueInit): Transformer => ({ kind: { case: "fillMissing", value: { value: value as never } } });

export const T = FeatureType;

/** The call's error, asserting its code. */
export async function rejection(call: Promise<unknown>, code: Code): Promise<ConnectError> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  expect(caught, "the call should have failed").toBeDefined();
  const err = ConnectError.from(caught);
  expect(err.code, err.message).toBe(code);
  return err;
}

/** The google.rpc.BadRequest field violations of an INVALID_ARGUMENT error, as "field: description" lines. */
export function violations(err: ConnectError): { field: string; description: string }[] {
  const details = err.findDetails(BadRequestSchema) as unknown as { fieldViolations: { field: string; description: string }[] }[];
  expect(details).toHaveLength(1);
  return details[0].fieldViolations.map((v) => ({ field: v.field, description: v.description }));
}

let counter = 0;
/** A fresh set name per call, so tests sharing a server do not collide. */
export function setName(prefix = "s"): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/**
 * Options for startTestServer for feature tests: no LLM providers (no local model to load),
 * and the other sections given as `{}` so their defaults are parsed rather than taken as is.
 */
export const otherServicesIdle = { llm: { providers: {}, models: [] }, feedback: {}, pipeline: {}, registry: {} };
