import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { fetchCanSend, sdkHttpClient } from "../../src/net/sdk-http-client.ts";
import { freePort } from "../helpers/emulators.ts";

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

describe("the fetch transport of the Azure SDK clients", () => {
  let server: Server;
  let base = "";
  before(async () => {
    server = createServer(async (req, res) => {
      const body = await bodyOf(req);
      if (req.url === "/slow") {
        setTimeout(() => res.end("late"), 2000);
        return;
      }
      if (req.url === "/moved") {
        res.writeHead(307, { location: "/echo" }).end();
        return;
      }
      res.writeHead(201, { "content-type": "application/json", "x-ms-request-charge": "1.5", etag: '"abc"' });
      res.end(
        req.method === "HEAD" ? undefined : JSON.stringify({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization,
          length: req.headers["content-length"],
          body,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const client = sdkHttpClient();
  const request = (path: string, extra: Partial<Parameters<typeof createPipelineRequest>[0]> = {}) =>
    createPipelineRequest({ url: `${base}${path}`, allowInsecureConnection: true, ...extra });

  test("sends method, headers and body (bytes as the SDK counted them) and returns status, headers and text", async () => {
    const body = JSON.stringify({ note: "café ✓" });
    const res = await client.sendRequest(request("/echo?x=1", {
      method: "PUT",
      body,
      headers: createHttpHeaders({
        authorization: "SharedKey test",
        "content-length": String(Buffer.byteLength(body)),
      }),
    }));
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-ms-request-charge"), "1.5");
    assert.equal(res.headers.get("ETag"), '"abc"');
    const echoed = JSON.parse(res.bodyAsText!);
    assert.deepEqual(echoed, {
      method: "PUT",
      url: "/echo?x=1",
      auth: "SharedKey test",
      length: String(Buffer.byteLength(body)),
      body,
    });
  });

  test("a HEAD answer has no body", async () => {
    const res = await client.sendRequest(request("/echo", { method: "HEAD" }));
    assert.equal(res.status, 201);
    assert.equal(res.bodyAsText, undefined);
  });

  test("redirects come back to the SDK pipeline, which follows them itself", async () => {
    const res = await client.sendRequest(request("/moved"));
    assert.equal(res.status, 307);
    assert.equal(res.headers.get("location"), "/echo");
  });

  test("the request's timeout and the caller's abort signal end the call with an AbortError", async () => {
    await assert.rejects(
      client.sendRequest(request("/slow", { timeout: 100 })),
      (err: Error) => err.name === "AbortError" && /timed out after 100 ms/.test(err.message),
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(
      client.sendRequest(request("/slow", { abortSignal: controller.signal })),
      (err: Error) => err.name === "AbortError" && /aborted/.test(err.message),
    );
    await assert.rejects(
      client.sendRequest(request("/echo", { abortSignal: AbortSignal.abort() })),
      (err: Error) => err.name === "AbortError",
    );
  });

  test("a refused connection is a RestError with the code the SDK retry policies retry on", async () => {
    const port = await freePort();
    await assert.rejects(
      client.sendRequest(createPipelineRequest({ url: `http://127.0.0.1:${port}/`, allowInsecureConnection: true })),
      (err: unknown) => err instanceof RestError && err.code === RestError.REQUEST_SEND_ERROR,
    );
  });

  test("streamed answers, progress callbacks and proxy settings go to the SDK's own client", async () => {
    assert.equal(fetchCanSend(request("/echo", { body: "text" })), true);
    assert.equal(fetchCanSend(request("/echo", { body: new Uint8Array([1, 2]) })), true);
    assert.equal(fetchCanSend(request("/echo", { streamResponseStatusCodes: new Set([200]) })), false);
    assert.equal(fetchCanSend(request("/echo", { onDownloadProgress: () => {} })), false);
    assert.equal(fetchCanSend(request("/echo", { proxySettings: { host: "http://proxy", port: 3128 } })), false);
    assert.equal(fetchCanSend(request("/echo", { body: () => new ReadableStream() })), false);
    const streamed = await client.sendRequest(request("/echo", { streamResponseStatusCodes: new Set([201]) }));
    assert.equal(streamed.status, 201);
    assert.equal(streamed.bodyAsText, undefined);
    assert.ok(streamed.readableStreamBody, "the default client hands the body over as a stream");
    let text = "";
    for await (const chunk of streamed.readableStreamBody!) text += String(chunk);
    assert.equal(JSON.parse(text).method, "GET");
  });
});
