import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { bearerAuth, constantTimeEqual, requestLimits, tokenComparison } from "../../src/api/auth.ts";
import { sleep } from "../helpers/wait.ts";

const TOKEN = "s3cret-token-for-tests";

function protectedApp(): Hono {
  const app = new Hono();
  app.get("/health", (c) => c.json({ status: "healthy" }));
  app.use("/status", bearerAuth(TOKEN));
  app.get("/status", (c) => c.json({ status: "running" }));
  return app;
}

describe("bearerAuth", () => {
  test("no Authorization header: 401, Bearer challenge, JSON error", async () => {
    const res = await protectedApp().request("/status");
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), `Bearer realm="contentflow-worker"`);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json();
    assert.equal(body.error, "unauthorized");
    assert.equal(body.reason, "missing_token");
  });

  test("wrong token, a prefix of the token, a longer token and a wrong scheme: 401 invalid_token", async () => {
    const app = protectedApp();
    for (
      const header of [`Bearer wrong`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, "Bearer"]
    ) {
      const res = await app.request("/status", { headers: { Authorization: header } });
      assert.equal(res.status, 401, header);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer .*error="invalid_token"/, header);
      const body = await res.json();
      assert.equal(body.reason, "invalid_token");
      assert.ok(!JSON.stringify(body).includes(TOKEN), "the response never echoes the token");
    }
  });

  test("right token (any case of the scheme): 200; unprotected routes stay open", async () => {
    const app = protectedApp();
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const res = await app.request("/status", { headers: { Authorization: `${scheme} ${TOKEN}` } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "running" });
    }
    assert.equal((await app.request("/health")).status, 200);
  });

  test("every check goes through the constant-time comparison", async () => {
    const original = tokenComparison.equal;
    const calls: Array<[string, string]> = [];
    tokenComparison.equal = (given, expected) => {
      calls.push([given, expected]);
      return original(given, expected);
    };
    try {
      const app = protectedApp();
      await app.request("/status", { headers: { Authorization: "Bearer nope" } });
      await app.request("/status", { headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.deepEqual(calls, [["nope", TOKEN], [TOKEN, TOKEN]]);
    } finally {
      tokenComparison.equal = original;
    }
  });

  test("constantTimeEqual compares digests, so different lengths are just unequal", () => {
    assert.equal(constantTimeEqual(TOKEN, TOKEN), true);
    assert.equal(constantTimeEqual("a", TOKEN), false);
    assert.equal(constantTimeEqual(TOKEN + TOKEN, TOKEN), false);
    assert.equal(constantTimeEqual("", TOKEN), false);
  });

  test("an empty token is refused at setup", () => {
    assert.throws(() => bearerAuth(""), /non-empty token/);
  });
});

function limitedApp(): Hono {
  const app = new Hono();
  app.use("*", requestLimits({ maxBodyBytes: 1024, timeoutMs: 200 }));
  app.post("/echo", async (c) => c.json({ length: (await c.req.text()).length }));
  app.get("/slow", async (c) => {
    await sleep(600);
    return c.json({ late: true });
  });
  app.get("/fast", (c) => c.json({ ok: true }));
  return app;
}

function streamOf(chunks: number, size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ >= chunks) return controller.close();
      controller.enqueue(new Uint8Array(size).fill(120));
    },
  });
}

describe("requestLimits", () => {
  test("a body within the limit reaches the handler intact", async () => {
    const res = await limitedApp().request("/echo", { method: "POST", body: "x".repeat(1024) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { length: 1024 });
  });

  test("Content-Length over the limit: 413 before the body is read", async () => {
    const res = await limitedApp().request("/echo", { method: "POST", body: "x".repeat(1025) });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error, "payload_too_large");
  });

  test("a streamed body without Content-Length is counted while it arrives: 413", async () => {
    const app = limitedApp();
    const over = new Request(
      "http://local/echo",
      { method: "POST", body: streamOf(5, 300), duplex: "half" } as RequestInit,
    );
    assert.equal(over.headers.get("content-length"), null);
    const res = await app.fetch(over);
    assert.equal(res.status, 413);
    const under = new Request(
      "http://local/echo",
      { method: "POST", body: streamOf(3, 300), duplex: "half" } as RequestInit,
    );
    const ok = await app.fetch(under);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { length: 900 });
  });

  test("a handler slower than the timeout: 503 with Retry-After; a fast one is untouched", async () => {
    const app = limitedApp();
    const started = Date.now();
    const res = await app.request("/slow");
    assert.equal(res.status, 503);
    assert.ok(Date.now() - started < 550, "answered at the timeout, not when the handler finished");
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal((await res.json()).error, "timeout");
    const fast = await app.request("/fast");
    assert.equal(fast.status, 200);
    assert.deepEqual(await fast.json(), { ok: true });
    await sleep(450); // let the abandoned slow handler finish inside the test
  });
});
