// One formatter for Azure service errors (util/errors.ts serviceErrorText), behind the storage queue's log summaries,
// blob read/write failures and AI Search REST errors.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { serviceErrorText } from "../../src/util/errors.ts";
import { storageErrorSummary } from "../../src/queue/errors.ts";
import { blobErrorMessage } from "../../src/executors/blob-clients.ts";

/** An error shaped like the Azure SDKs' RestError. */
function restError(fields: { statusCode?: number; code?: string | number; message?: string; name?: string }): Error {
  const err = new Error(fields.message ?? "") as Error & Record<string, unknown>;
  err.name = fields.name ?? "RestError";
  if (fields.statusCode !== undefined) err.statusCode = fields.statusCode;
  if (fields.code !== undefined) err.code = fields.code;
  return err;
}

describe("serviceErrorText", () => {
  const cases: Array<[string, unknown, string | undefined, string]> = [
    [
      "status, code and the first line only (the rest is request details)",
      restError({
        statusCode: 404,
        code: "QueueNotFound",
        message: "The specified queue does not exist.\nRequestId:abc\nTime:2026-01-01",
      }),
      undefined,
      "HTTP 404: QueueNotFound: The specified queue does not exist.",
    ],
    [
      "a 404 of something named reads 'not found'",
      restError({ statusCode: 404, code: "BlobNotFound" }),
      "blob c/a.pdf",
      "blob c/a.pdf not found (BlobNotFound)",
    ],
    [
      "what was being done comes first",
      restError({ statusCode: 403, code: "AuthorizationFailure", message: "This request is not authorized." }),
      "writing blob out/x.json",
      "writing blob out/x.json: HTTP 403: AuthorizationFailure: This request is not authorized.",
    ],
    [
      "a message that starts with its code does not repeat it; spaces collapse",
      restError({ statusCode: 400, code: "InvalidRequest", message: "InvalidRequest:  the   field is bad" }),
      undefined,
      "HTTP 400: InvalidRequest: the field is bad",
    ],
    [
      "an answer that did not parse",
      restError({ statusCode: 200, code: "PARSE_ERROR", message: "Error parsing the response body: <html>" }),
      undefined,
      "HTTP 200: the answer is not valid JSON",
    ],
    [
      "no status: the error's name (a timeout, a failed fetch)",
      Object.assign(new Error("The operation timed out."), { name: "TimeoutError" }),
      undefined,
      "TimeoutError: The operation timed out.",
    ],
    [
      "numeric codes (Cosmos) are not shown as codes",
      restError({ statusCode: 429, code: 429, message: "Request rate is large" }),
      undefined,
      "HTTP 429: Request rate is large",
    ],
    ["no message: the code", restError({ statusCode: 500, code: "InternalError" }), "x", "x: HTTP 500: InternalError"],
    ["not an error at all", "socket hang up", undefined, "socket hang up"],
  ];
  for (const [name, err, what, expected] of cases) {
    test(name, () => assert.equal(serviceErrorText(err, what), expected));
  }

  test("a long message is cut at 300 characters", () => {
    assert.equal(serviceErrorText(restError({ statusCode: 500, message: "x".repeat(1000) })).length, 300 + 10);
  });

  test("the storage and blob formatters are this one", () => {
    const err = restError({ statusCode: 503, code: "ServerBusy", message: "The server is busy.\nRequestId:1" });
    assert.equal(storageErrorSummary(err), serviceErrorText(err));
    assert.equal(blobErrorMessage(err, "reading blob c/a"), serviceErrorText(err, "reading blob c/a"));
    assert.equal(
      blobErrorMessage(err, "reading blob c/a"),
      "reading blob c/a: HTTP 503: ServerBusy: The server is busy.",
    );
  });
});
