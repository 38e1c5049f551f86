// The console's plain helpers: error codes and details, typed feature input, form parsing.
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJson, errorToJson } from "@connectrpc/connect/protocol-connect";
import { describe, expect, test } from "vitest";
import { codeName, describeError, normaliseBaseUrl } from "../../console/src/api.js";
import { fieldViolations } from "../../console/src/error-details.js";
import { formatFeatureValue, parseFeatureValue } from "../../console/src/feature-value.js";
import { enumLabel, formatBytes, formatMs, parseKeyValueLines, splitList } from "../../console/src/ui.js";
import { FeatureType } from "../../gen/openloop/feature/v1/feature_value_pb.js";
import { FinishReasonSchema } from "../../gen/openloop/llm/v1/llm_service_pb.js";
import { invalidArgument } from "../../src/feature/bad-request.js";

describe("errors", () => {
  test("names codes as gRPC does", () => {
    expect(codeName(Code.Unauthenticated)).toBe("UNAUTHENTICATED");
    expect(codeName(Code.DeadlineExceeded)).toBe("DEADLINE_EXCEEDED");
    expect(codeName(Code.ResourceExhausted)).toBe("RESOURCE_EXHAUSTED");
    expect(codeName(Code.Canceled)).toBe("CANCELLED");
  });

  test("shows the message without the code prefix ConnectError adds", () => {
    expect(describeError(new ConnectError("no model 'x'", Code.NotFound))).toEqual({ code: "NOT_FOUND", message: "no model 'x'" });
  });

  test("decodes the field violations of a google.rpc.BadRequest detail as the server sends it", () => {
    const sent = invalidArgument("features do not fit set 'users'", [
      { field: "age", description: "200 is above the maximum 130" },
      { field: "country", description: "does not match /[A-Z]{2}/" },
    ]);
    // Through the Connect protocol's error JSON, as the server writes it and connect-web reads it.
    const received = errorFromJson(errorToJson(sent, undefined), undefined, new ConnectError("unparsable", Code.Internal));
    expect(fieldViolations(received)).toEqual([
      { field: "age", description: "200 is above the maximum 130" },
      { field: "country", description: "does not match /[A-Z]{2}/" },
    ]);
    expect(fieldViolations(new ConnectError("plain", Code.InvalidArgument))).toEqual([]);
  });
});

describe("typed feature input", () => {
  test("parses each scalar type, refusing what does not fit", () => {
    expect(parseFeatureValue(FeatureType.INT64, " 42 ").kind).toEqual({ case: "int64Value", value: 42n });
    expect(() => parseFeatureValue(FeatureType.INT64, "9223372036854775808")).toThrow("does not fit in 64 bits");
    expect(() => parseFeatureValue(FeatureType.INT64, "4.5")).toThrow("not an integer");
    expect(parseFeatureValue(FeatureType.DOUBLE, "-1e3").kind).toEqual({ case: "doubleValue", value: -1000 });
    expect(parseFeatureValue(FeatureType.DOUBLE, "NaN").kind.value).toBeNaN();
    expect(parseFeatureValue(FeatureType.DOUBLE, "-inf").kind.value).toBe(-Infinity);
    expect(() => parseFeatureValue(FeatureType.DOUBLE, "ten")).toThrow("not a number");
    expect(parseFeatureValue(FeatureType.BOOL, "yes").kind).toEqual({ case: "boolValue", value: true });
    expect(parseFeatureValue(FeatureType.STRING, " as typed ").kind).toEqual({ case: "stringValue", value: " as typed " });
  });

  test("parses comma-separated lists, an empty field being an empty list", () => {
    const v = parseFeatureValue(FeatureType.DOUBLE_LIST, "1, 2.5,3");
    expect(formatFeatureValue(v)).toBe("[1, 2.5, 3]");
    expect(formatFeatureValue(parseFeatureValue(FeatureType.STRING_LIST, "a, b"))).toBe('["a", "b"]');
    expect(formatFeatureValue(parseFeatureValue(FeatureType.INT64_LIST, ""))).toBe("[]");
    expect(() => parseFeatureValue(FeatureType.BOOL_LIST, "true, maybe")).toThrow("'maybe' is not true or false");
  });
});

describe("form fields", () => {
  test("reads key=value lines, keeping '=' inside values", () => {
    expect(parseKeyValueLines("team = web\n\n  url=https://x.example/?a=b  ")).toEqual({ team: "web", url: "https://x.example/?a=b" });
    expect(() => parseKeyValueLines("ok=1\nno equals here")).toThrow("line 2");
    expect(splitList(" a, ,b ,")).toEqual(["a", "b"]);
  });

  test("accepts only http and https server URLs, without a trailing slash", () => {
    expect(normaliseBaseUrl(" http://127.0.0.1:50051/ ")).toBe("http://127.0.0.1:50051");
    expect(normaliseBaseUrl("https://api.example.com/openloop/")).toBe("https://api.example.com/openloop");
    expect(() => normaliseBaseUrl("ftp://example.com")).toThrow("http:// or https://");
    expect(() => normaliseBaseUrl("not a url")).toThrow();
  });

  test("labels enum values without their prefix and formats sizes and times", () => {
    expect(enumLabel(FinishReasonSchema, 2)).toBe("length");
    expect(enumLabel(FinishReasonSchema, 3)).toBe("content filter");
    expect(enumLabel(FinishReasonSchema, 99)).toBe("99");
    expect(formatBytes(30)).toBe("30 B");
    expect(formatBytes(98362432)).toBe("94 MiB");
    expect(formatMs(2.44)).toBe("2.4 ms");
    expect(formatMs(2130)).toBe("2.13 s");
  });
});
