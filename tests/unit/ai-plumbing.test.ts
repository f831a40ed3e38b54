import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ConcurrencyGate,
  endpointGate,
  endpointKey,
  withEndpointSlot,
} from "../../src/executors/ai/endpoint-limiter.ts";
import { isRetryableStatus, retryAfterMs, retryDelayMs, withRetries } from "../../src/executors/ai/retry.ts";
import {
  classifyFailedTry,
  keptFromResend,
  RetryableAnswer,
  TransientFailure,
} from "../../src/executors/ai/failed-try.ts";
import { addUsage, onUsage, recordUsage, resetUsage, usageTotals } from "../../src/executors/ai/usage.ts";
import { entraTokenProvider, resolveAuth } from "../../src/executors/ai/auth.ts";
import type { TokenTarget } from "../../src/executors/ai/token-target.ts";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { sleep } from "../helpers/wait.ts";

const tick = () => sleep(0);

describe("endpoint limiter", () => {
  test("at most `limit` holders; waiters are served in order as slots free up", async () => {
    const gate = new ConcurrencyGate(2);
    const a = await gate.acquire();
    const b = await gate.acquire();
    const order: string[] = [];
    const c = gate.acquire().then((release) => (order.push("c"), release));
    const d = gate.acquire().then((release) => (order.push("d"), release));
    await tick();
    assert.equal(gate.inUse, 2);
    assert.equal(gate.waiting, 2);
    assert.deepEqual(order, []);
    a();
    a(); // releasing twice frees one slot only
    const releaseC = await c;
    await tick();
    assert.deepEqual(order, ["c"]);
    assert.equal(gate.inUse, 2);
    b();
    const releaseD = await d;
    assert.deepEqual(order, ["c", "d"]);
    releaseC();
    releaseD();
    assert.equal(gate.inUse, 0);
  });

  test("an aborted waiter leaves the queue with the signal's reason and takes no slot", async () => {
    const gate = new ConcurrencyGate(1);
    const held = await gate.acquire();
    const controller = new AbortController();
    const waiting = gate.acquire(controller.signal);
    controller.abort(new Error("task cancelled"));
    await assert.rejects(waiting, /task cancelled/);
    assert.equal(gate.waiting, 0);
    held();
    assert.equal(gate.inUse, 0);
    await assert.rejects(gate.acquire(controller.signal), /task cancelled/);
  });

  test("one gate per endpoint origin, shared by callers; the newest limit applies", async () => {
    assert.equal(endpointKey("https://Res.openai.azure.com/openai/v1/"), "https://res.openai.azure.com");
    const g1 = endpointGate("https://shared-limiter.example.com/a", 3);
    const g2 = endpointGate("https://SHARED-limiter.example.com/b/c", 5);
    assert.equal(g1, g2);
    assert.equal(g1.limit, 5);
    assert.notEqual(endpointGate("https://other-limiter.example.com", 5), g1);
    let running = 0;
    let peak = 0;
    const call = async () => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
    };
    await Promise.all(
      Array.from({ length: 12 }, () => withEndpointSlot("https://limit-two.example.com", 2, undefined, call)),
    );
    assert.equal(peak, 2);
  });
});

describe("retry policy", () => {
  test("Retry-After in seconds, as an HTTP-date, and Azure's retry-after-ms", () => {
    const now = Date.parse("2026-11-28T08:00:00Z");
    assert.equal(retryAfterMs(new Headers({ "retry-after": "7" }), now), 7000);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "Sat, 28 Nov 2026 08:00:12 GMT" }), now), 12_000);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "Sat, 28 Nov 2026 07:00:00 GMT" }), now), 0);
    assert.equal(retryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "9" }), now), 250);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "soon" }), now), undefined);
    assert.equal(retryAfterMs(new Headers(), now), undefined);
  });

  test("delays: Retry-After wins but is capped; otherwise exponential with at most 20% jitter, capped", () => {
    const policy = { maxRetries: 5, initialDelayMs: 1000, factor: 2, maxDelayMs: 5000 };
    assert.equal(retryDelayMs(policy, 0, 3000), 3000);
    assert.equal(retryDelayMs(policy, 0, 60_000), 5000);
    assert.equal(retryDelayMs(policy, 0, undefined, () => 1), 1000);
    assert.equal(retryDelayMs(policy, 1, undefined, () => 0), 1600);
    assert.equal(retryDelayMs(policy, 2, undefined, () => 1), 4000);
    assert.equal(retryDelayMs(policy, 3, undefined, () => 1), 5000);
    assert.ok(isRetryableStatus(429) && isRetryableStatus(503) && isRetryableStatus(500));
    assert.ok(!isRetryableStatus(400) && !isRetryableStatus(401) && !isRetryableStatus(404));
  });

  test("withRetries stops on success, on a final error, and after maxRetries", async () => {
    const policy = { maxRetries: 2, initialDelayMs: 0, factor: 2, maxDelayMs: 0 };
    let calls = 0;
    const ok = await withRetries(async () => {
      if (++calls < 3) throw new Error("transient");
      return "done";
    }, { policy, classify: () => ({ retryable: true }) });
    assert.equal(ok, "done");
    assert.equal(calls, 3);

    calls = 0;
    await assert.rejects(
      withRetries(async () => {
        calls++;
        throw new Error("still failing");
      }, { policy, classify: () => ({ retryable: true }) }),
      /still failing/,
    );
    assert.equal(calls, 3);

    calls = 0;
    await assert.rejects(
      withRetries(async () => {
        calls++;
        throw new Error("bad request");
      }, { policy, classify: () => ({ retryable: false }) }),
      /bad request/,
    );
    assert.equal(calls, 1);
  });

  test("withRetries waits what the service asked and stops waiting when the signal aborts", async () => {
    const policy = { maxRetries: 3, initialDelayMs: 0, factor: 2, maxDelayMs: 60_000 };
    const controller = new AbortController();
    const delays: number[] = [];
    const run = withRetries(async () => {
      throw new Error("throttled");
    }, {
      policy,
      signal: controller.signal,
      classify: () => ({ retryable: true, retryAfterMs: 30_000 }),
      onRetry: (e) => {
        delays.push(e.delayMs);
        queueMicrotask(() => controller.abort(new Error("task timed out")));
      },
    });
    await assert.rejects(run, /task timed out/);
    assert.deepEqual(delays, [30_000]);
  });

  test("a failed try: retried, except a billed call the service may have taken", () => {
    const answer = (status: number) => new RetryableAnswer(status, status === 429 ? 2000 : undefined, {});
    for (const status of [408, 409, 429, 500, 502, 503, 504]) {
      const expected = status === 429 ? { retryable: true, retryAfterMs: 2000 } : { retryable: true };
      assert.deepEqual(
        { ...classifyFailedTry(answer(status), false) },
        { retryAfterMs: undefined, ...expected },
        `${status}`,
      );
      const taken = [408, 500, 502, 504].includes(status);
      assert.equal(classifyFailedTry(answer(status), true).retryable, !taken, `${status}, billed`);
      assert.equal(keptFromResend(answer(status), true), taken, `${status}, billed`);
      assert.equal(keptFromResend(answer(status), false), false);
    }
    assert.deepEqual(classifyFailedTry(new TransientFailure("refused", false), true), { retryable: true });
    const cut = new TransientFailure("Content Understanding analyze: no answer within 30 s", true);
    assert.deepEqual(classifyFailedTry(cut, false), { retryable: true });
    assert.deepEqual(classifyFailedTry(cut, true), { retryable: false });
    assert.match(cut.message, /no answer within 30 s; not sent again: the service may have accepted it/);
    assert.deepEqual(classifyFailedTry(new Error("bad request"), false), { retryable: false });
  });
});

describe("usage accumulator", () => {
  test("sums tokens per executor type and kind, counts calls, tells listeners", () => {
    resetUsage();
    const seen: string[] = [];
    const stop = onUsage((type, kind, n) => seen.push(`${type}/${kind}/${n}`));
    recordUsage("text_summarizer", { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 });
    recordUsage("text_summarizer", { prompt_tokens: 50, completion_tokens: 5 });
    recordUsage("azure_openai_embeddings", { embedding_tokens: 7 });
    stop();
    recordUsage("azure_openai_embeddings", { embedding_tokens: 3 });
    assert.deepEqual(usageTotals(), {
      tokens: {
        text_summarizer: { prompt: 150, completion: 25 },
        azure_openai_embeddings: { embedding: 10 },
      },
      calls: { text_summarizer: 2, azure_openai_embeddings: 2 },
    });
    assert.deepEqual(seen, [
      "text_summarizer/prompt/100",
      "text_summarizer/completion/20",
      "text_summarizer/prompt/50",
      "text_summarizer/completion/5",
      "azure_openai_embeddings/embedding/7",
    ]);
    assert.deepEqual(addUsage({ prompt_tokens: 1 }, { prompt_tokens: 2, completion_tokens: 3 }), {
      prompt_tokens: 3,
      completion_tokens: 3,
    });
    resetUsage();
  });
});

describe("AI authentication", () => {
  /** An Azure OpenAI resource: a host the worker's managed-identity token may go to. */
  const azure: { target: TokenTarget } = {
    target: {
      endpoint: "https://res.openai.azure.com",
      service: "cognitive_services",
      setting: "endpoint",
      config: { MANAGED_IDENTITY_ALLOWED_HOSTS: [], AZURE_OPENAI_ENDPOINT: "" },
    },
  };

  test("a key when given (explicitly or by api_key alone), Entra ID otherwise; a missing key is named", () => {
    assert.deepEqual(resolveAuth({ api_key: "k-123456" }, azure), { kind: "key", apiKey: "k-123456" });
    assert.deepEqual(resolveAuth({ credential_type: "azure_key_credential", api_key: "k-123456" }, azure), {
      kind: "key",
      apiKey: "k-123456",
    });
    assert.equal(resolveAuth({}, azure).kind, "entra");
    assert.equal(
      resolveAuth({ credential_type: "default_azure_credential", api_key: "k-123456" }, azure).kind,
      "entra",
    );
    assert.throws(
      () => resolveAuth({ credential_type: "azure_key_credential" }, azure),
      /^Error: api_key must be set when credential_type is azure_key_credential$/,
    );
  });

  test("Entra ID only for an endpoint the token may go to; a key goes wherever the author sends it", () => {
    const elsewhere = { target: { ...azure.target, endpoint: "https://attacker.example" } };
    assert.throws(
      () => resolveAuth({}, elsewhere),
      /^Error: invalid settings: endpoint: a managed-identity token goes only to Azure AI .* not to 'attacker\.example'/,
    );
    assert.deepEqual(resolveAuth({ api_key: "k-123456" }, elsewhere), { kind: "key", apiKey: "k-123456" });
    const listed = {
      target: {
        ...elsewhere.target,
        config: { ...azure.target.config, MANAGED_IDENTITY_ALLOWED_HOSTS: ["attacker.example"] },
      },
    };
    assert.equal(resolveAuth({}, listed).kind, "entra");
  });

  test("Entra tokens: the Cognitive Services scope, cached until near expiry, one refresh at a time", async () => {
    const scopes: string[] = [];
    let n = 0;
    const credential: TokenCredential = {
      getToken: async (scope) => {
        scopes.push(String(scope));
        await tick();
        n++;
        // The first token is about to expire (inside the refresh margin), the second lasts an hour.
        return { token: `token-${n}`, expiresOnTimestamp: Date.now() + (n === 1 ? 60_000 : 3_600_000) } as AccessToken;
      },
    };
    const auth = resolveAuth({}, { ...azure, credential });
    assert.equal(auth.kind, "entra");
    if (auth.kind !== "entra") return;
    const [a, b] = await Promise.all([auth.token(), auth.token()]);
    assert.equal(a, "token-1");
    assert.equal(b, "token-1");
    assert.equal(await auth.token(), "token-2");
    assert.equal(await auth.token(), "token-2");
    assert.deepEqual(scopes, [
      "https://cognitiveservices.azure.com/.default",
      "https://cognitiveservices.azure.com/.default",
    ]);
    const failing = entraTokenProvider("scope-x", { getToken: () => Promise.reject(new Error("no identity")) });
    await assert.rejects(failing(), /could not get a Microsoft Entra token for scope-x.*no identity/);
  });
});

describe("labelled counters", () => {
  test("labelledCounter and splitLabelledCounter agree; odd names stay plain", async () => {
    const { labelledCounter, splitLabelledCounter } = await import("../../src/model/worker-context.ts");
    const name = labelledCounter("ai_tokens_total", { executor_type: 'we"ird\\', kind: "prompt" });
    assert.equal(name, 'ai_tokens_total{executor_type="we\\"ird\\\\",kind="prompt"}');
    assert.deepEqual(splitLabelledCounter(name), {
      name: "ai_tokens_total",
      labels: 'executor_type="we\\"ird\\\\",kind="prompt"',
    });
    assert.deepEqual(splitLabelledCounter("tasks_processed_total"), { name: "tasks_processed_total" });
    assert.deepEqual(splitLabelledCounter('x{bad label="1"}'), { name: 'x{bad label="1"}' });
  });
});
