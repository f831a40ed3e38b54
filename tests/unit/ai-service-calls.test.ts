// The shared plumbing of the Azure AI executors: Retry-After parsing, capped backoff and the per-endpoint limiter.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { retryAfterMs, retryDelayMs, withRetries } from "../../src/executors/azure-ai/retry.ts";
import { acquireEndpointSlot, endpointCallsInFlight } from "../../src/executors/azure-ai/endpoint-limiter.ts";

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe("Retry-After", () => {
  test("seconds, HTTP dates and the millisecond headers", () => {
    const now = Date.parse("Wed, 21 Oct 2026 07:28:00 GMT");
    assert.equal(retryAfterMs(headers({ "retry-after": "7" }), now), 7000);
    assert.equal(retryAfterMs(headers({ "retry-after": "Wed, 21 Oct 2026 07:28:30 GMT" }), now), 30_000);
    assert.equal(retryAfterMs(headers({ "retry-after": "Wed, 21 Oct 2026 07:27:00 GMT" }), now), 0);
    assert.equal(retryAfterMs(headers({ "retry-after-ms": "250", "retry-after": "9" }), now), 250);
    assert.equal(retryAfterMs(headers({ "x-ms-retry-after-ms": "40" }), now), 40);
    assert.equal(retryAfterMs(headers({ "retry-after": "soon" }), now), undefined);
    assert.equal(retryAfterMs(headers({}), now), undefined);
  });

  test("waits are capped; without Retry-After they grow exponentially within jitter bounds", () => {
    const options = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(retryDelayMs(0, options, 3_600_000), 1000);
    assert.equal(retryDelayMs(0, options, 20), 20);
    for (let retry = 0; retry < 6; retry++) {
      const d = retryDelayMs(retry, options);
      const full = Math.min(100 * 2 ** retry, 1000);
      assert.ok(d <= full && d >= Math.min(full / 2, 1000), `retry ${retry}: ${d}`);
    }
  });

  test("withRetries retries retryable statuses up to maxRetries and stops on others", async () => {
    const statuses = [503, 429, 200];
    let calls = 0;
    const ok = await withRetries(async (n) => {
      calls++;
      const status = statuses[n];
      return status === 200 ? { done: true, value: status } : { done: false, value: status, status, retryAfterMs: 0 };
    }, { maxRetries: 5, baseDelayMs: 1, maxDelayMs: 5 });
    assert.deepEqual(ok, { value: 200, attempts: 3 });
    assert.equal(calls, 3);
    const notRetried = await withRetries(
      async () => ({ done: false, value: 400, status: 400 }),
      { maxRetries: 5, baseDelayMs: 1, maxDelayMs: 5 },
    );
    assert.deepEqual(notRetried, { value: 400, attempts: 1 });
  });
});

describe("endpoint limiter", () => {
  test("at most N calls in flight per endpoint; a waiting caller leaves on abort", async () => {
    const url = "https://limited.example.com/x";
    const releases = await Promise.all([1, 2].map(() => acquireEndpointSlot(url, undefined, 2)));
    assert.equal(endpointCallsInFlight(url), 2);
    let third = false;
    const waiting = acquireEndpointSlot(url, undefined, 2).then((r) => {
      third = true;
      return r;
    });
    const aborted = new AbortController();
    const fourth = acquireEndpointSlot(url, aborted.signal, 2);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(third, false);
    aborted.abort(new Error("drain"));
    await assert.rejects(fourth, /drain/);
    releases[0]();
    const release3 = await waiting;
    assert.equal(third, true);
    assert.equal(endpointCallsInFlight(url), 2);
    releases[1]();
    release3();
    assert.equal(endpointCallsInFlight(url), 0);
    assert.equal(endpointCallsInFlight("https://other.example.com"), 0);
  });
});
