// The one describer of dependency failures (src/util/dependency-error.ts), fed the shapes the SDKs really throw.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { ErrorResponse } from "@azure/cosmos";
import {
  describeDependencyError,
  endpointOf,
  isDependencyError,
  registerDependencyEndpoint,
  serviceOf,
} from "../../src/util/dependency-error.ts";

const QUEUE_URL = "https://stabc.queue.core.windows.net/contentflow-execution-requests/messages?sv=2023&sig=SECRETSIG";

/** A storage SDK error as core-rest-pipeline builds it for an HTTP answer. */
function storageError(status: number, code: string, message: string, url = QUEUE_URL): RestError {
  const request = createPipelineRequest({ url });
  return new RestError(message, {
    code,
    statusCode: status,
    request,
    response: { status, headers: createHttpHeaders(), request },
  });
}

/** What src/net/sdk-http-client.ts throws for a network failure (code REQUEST_SEND_ERROR, the cause kept). */
function sendError(url: string, message: string, cause?: { code?: string; message: string }): RestError {
  const err = new RestError(`Error sending request: ${message}`, {
    code: RestError.REQUEST_SEND_ERROR,
    request: createPipelineRequest({ url }),
  });
  if (cause) Object.defineProperty(err, "cause", { value: Object.assign(new Error(cause.message), cause) });
  return err;
}

/** A Cosmos SDK error for an HTTP answer: numeric code, body, activity id, no URL. */
function cosmosError(status: number, body: { code: string; message: string }, substatus?: number): ErrorResponse {
  const err = new ErrorResponse(body.message);
  err.code = status;
  err.body = body;
  err.substatus = substatus;
  err.activityId = "5b8a6d4c-0000-0000-0000-000000000000";
  return err;
}

describe("describeDependencyError", () => {
  test("endpoint and service from a URL; path and SAS dropped", () => {
    assert.equal(endpointOf(QUEUE_URL), "https://stabc.queue.core.windows.net");
    assert.equal(serviceOf(QUEUE_URL), "Storage queue");
    assert.equal(serviceOf("https://stabc.blob.core.windows.net/c/b"), "Blob storage");
    assert.equal(serviceOf("https://acct.documents.azure.com:443/"), "Cosmos DB");
    assert.equal(serviceOf("https://appcs-abc.azconfig.io"), "App Configuration");
    assert.equal(serviceOf("https://example.com"), undefined);
  });

  test("connection refused through the fetch transport (Bun: code in the message)", () => {
    const d = describeDependencyError(
      sendError(QUEUE_URL, "ECONNREFUSED: Unable to connect. Is the computer able to access the url?"),
    );
    assert.equal(d.kind, "unreachable");
    assert.equal(d.service, "Storage queue");
    assert.equal(d.endpoint, "https://stabc.queue.core.windows.net");
    assert.match(d.text, /^Storage queue at https:\/\/stabc\.queue\.core\.windows\.net: unreachable/);
    assert.doesNotMatch(d.text, /SECRETSIG/);
  });

  test("DNS failure with the detail only in the cause (Deno's fetch says 'fetch failed')", () => {
    const d = describeDependencyError(
      sendError("https://acct.documents.azure.com/dbs", "fetch failed", {
        message: "error sending request for url (https://acct.documents.azure.com/dbs?x=1): client error (Connect): " +
          "dns error: failed to lookup address information: Name or service not known",
      }),
    );
    assert.equal(d.kind, "dns");
    assert.equal(d.service, "Cosmos DB");
    assert.match(d.text, /^Cosmos DB at https:\/\/acct\.documents\.azure\.com: the host name does not resolve/);
    assert.doesNotMatch(d.text, /x=1/, "query strings are dropped from the detail");
  });

  test("Node-style network errors: cause.code ENOTFOUND, ECONNREFUSED, CERT_…", () => {
    const wrapped = (code: string) =>
      Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(`connect ${code}`), { code }) });
    assert.equal(describeDependencyError(wrapped("ENOTFOUND")).kind, "dns");
    assert.equal(describeDependencyError(wrapped("ECONNREFUSED")).kind, "unreachable");
    assert.equal(describeDependencyError(wrapped("CERT_HAS_EXPIRED")).kind, "tls");
    assert.equal(describeDependencyError(wrapped("UNABLE_TO_VERIFY_LEAF_SIGNATURE")).kind, "tls");
  });

  test("storage 403 names the missing role; 403 from network rules says so instead", () => {
    const denied = describeDependencyError(
      storageError(
        403,
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
      ),
    );
    assert.equal(denied.kind, "forbidden");
    assert.match(denied.text, /Storage queue at .*access denied \(403\).*Storage Queue Data Contributor/);
    const blocked = describeDependencyError(
      storageError(
        403,
        "AuthorizationFailure",
        "This request is not authorized to perform this operation. Public network access is disabled.",
        "https://stabc.blob.core.windows.net/content/a.pdf",
      ),
    );
    assert.equal(blocked.kind, "blocked");
    assert.match(blocked.text, /^Blob storage at https:\/\/stabc\.blob\.core\.windows\.net: .*network rules/);
  });

  test("storage 404 names what was not found", () => {
    const queue = describeDependencyError(storageError(404, "QueueNotFound", "The specified queue does not exist."));
    assert.match(queue.text, /queue contentflow-execution-requests not found \(404\)/);
    const blob = describeDependencyError(
      storageError(
        404,
        "BlobNotFound",
        "The specified blob does not exist.",
        "http://127.0.0.1:10000/devstoreaccount1/content/a/b.pdf",
      ),
    );
    assert.equal(blob.service, "Blob storage");
    assert.match(blob.text, /blob a\/b\.pdf in content not found/);
  });

  test("Cosmos 403 (RBAC): the service from the error's shape, the endpoint from the configuration", () => {
    registerDependencyEndpoint("Cosmos DB", "https://acct.documents.azure.com:443/");
    const d = describeDependencyError(cosmosError(403, {
      code: "Forbidden",
      message: "Request blocked by Auth acct : Request is blocked because principal [x] does not have required RBAC " +
        "permissions to perform action [Microsoft.DocumentDB/databaseAccounts/readMetadata] on resource [/].",
    }, 5301));
    assert.equal(d.service, "Cosmos DB");
    assert.equal(d.status, 403);
    assert.equal(d.endpoint, "https://acct.documents.azure.com");
    assert.match(d.text, /access denied \(403\).*Cosmos DB Built-in Data Contributor/);
  });

  test("Cosmos 404 with a hint of what was asked for; 401 and 429", () => {
    const nf = describeDependencyError(
      cosmosError(404, { code: "NotFound", message: 'Message: {"Errors":["Resource Not Found"]}' }),
      { what: "database contentflow" },
    );
    assert.match(nf.text, /database contentflow not found \(404\): Resource Not Found/);
    assert.equal(
      describeDependencyError(cosmosError(401, { code: "Unauthorized", message: "bad key" })).kind,
      "unauthorized",
    );
    assert.equal(
      describeDependencyError(cosmosError(429, { code: "TooManyRequests", message: "busy" })).kind,
      "throttled",
    );
  });

  test("no credential, timeouts, anything else", () => {
    const cred = Object.assign(new Error("ManagedIdentityCredential: no endpoint"), {
      name: "CredentialUnavailableError",
    });
    assert.equal(describeDependencyError(cred).kind, "credential");
    const abort = Object.assign(new Error("The request timed out after 30000 ms."), { name: "AbortError" });
    assert.equal(describeDependencyError(abort).kind, "timeout");
    const other = describeDependencyError(new Error("something else"));
    assert.equal(other.kind, "other");
    assert.equal(other.text, "something else");
  });

  test("a hint names the service and endpoint of an error without a URL", () => {
    const d = describeDependencyError(
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }),
      {
        service: "App Configuration",
        endpoint: "http://127.0.0.1:9",
      },
    );
    assert.match(d.text, /^App Configuration at http:\/\/127\.0\.0\.1:9: unreachable/);
  });
});

describe("isDependencyError", () => {
  test("by shape, never by words in the message", () => {
    assert.equal(isDependencyError(sendError(QUEUE_URL, "fetch failed")), true);
    assert.equal(isDependencyError(cosmosError(404, { code: "NotFound", message: "x" })), true);
    assert.equal(isDependencyError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" })), true);
    assert.equal(isDependencyError(new Error("TASK_TIMEOUT_SECONDS timed out: connection refused")), false);
    assert.equal(isDependencyError("text"), false);
  });
});
