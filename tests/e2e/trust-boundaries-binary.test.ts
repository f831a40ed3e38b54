// No credential of the worker leaves for a host a pipeline names (issue 27 items 1 and 7), through the compiled
// binary. The worker has a managed identity here: a local stand-in for App Service's identity endpoint
// (IDENTITY_ENDPOINT / IDENTITY_HEADER) hands out a token, so a request that carried one would show it. A local
// listener plays the attacker's host:
// - a pipeline names `127.0.0.1:<port>/x?` as azure_blob_output's storage account, which once made the blob
//   endpoint https://127.0.0.1:<port>/x?.blob.core.windows.net and sent the storage token there;
// - a pipeline names http://127.0.0.1:<port> as azure_openai_agent's endpoint without a key (the listener's address
//   is allowed by OUTBOUND_ALLOWED_PRIVATE_HOSTS, as `*` would allow an outside host).
// The listener must see no connection at all, `pipeline check` and the worker refuse both documents naming the
// executor and the setting, and when the operator lists the host (MANAGED_IDENTITY_ALLOWED_HOSTS) the token does go
// there, which shows the listener would have seen it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { upsertPipeline } from "../helpers/seeded-store.ts";
import { type E2eEnv, e2eEnv, uniqueName, until } from "../helpers/e2e-kit.ts";

const TOKEN = "fake-managed-identity-token-4711";

interface Listener {
  server: Server;
  port: number;
  /** TCP connections accepted (a TLS handshake counts: it is not an HTTP request). */
  connections: number;
  requests: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders }>;
}

async function listen(handler: (headers: IncomingHttpHeaders, url: string) => [number, string]): Promise<Listener> {
  const l: Listener = { server: undefined as unknown as Server, port: 0, connections: 0, requests: [] };
  l.server = createServer((req, res) => {
    l.requests.push({ method: req.method, url: req.url, headers: req.headers });
    req.resume();
    req.on("end", () => {
      const [status, body] = handler(req.headers, req.url ?? "");
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
  });
  l.server.on("connection", () => l.connections++);
  l.server.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((r) => l.server.listen(0, "127.0.0.1", () => r()));
  const addr = l.server.address();
  l.port = typeof addr === "object" && addr ? addr.port : 0;
  return l;
}

async function close(l: Listener | undefined): Promise<void> {
  if (!l) return;
  l.server.closeAllConnections();
  await new Promise<void>((r) => l.server.close(() => r()));
}

describe("compiled binary: the worker's tokens go only where they belong", () => {
  let e: E2eEnv;
  let identity: Listener;
  let attacker: Listener;
  /** The storage case's own listener, so that each case shows on its own. */
  let blobAttacker: Listener;
  let storagePipeline: string;
  let aiPipeline: string;
  const dir = mkdtempSync(join(tmpdir(), "cfw-trust-"));

  before(async () => {
    // App Service's managed identity endpoint, as @azure/identity calls it.
    identity = await listen((headers, url) =>
      headers["x-identity-header"] === "identity-header-secret" && url.includes("resource=")
        ? [200, JSON.stringify({ access_token: TOKEN, expires_on: String(Math.floor(Date.now() / 1000) + 3600) })]
        : [401, "{}"]
    );
    attacker = await listen(() => [500, '{"error": {"code": "attacker", "message": "thanks"}}']);
    blobAttacker = await listen(() => [500, "{}"]);
    storagePipeline = `pipeline:
  name: blob-to-elsewhere
  executors:
    - {id: out, type: azure_blob_output, settings: {storage_account_name: "127.0.0.1:${blobAttacker.port}/x?", container_name: c}}
`;
    aiPipeline = `pipeline:
  name: ai-to-elsewhere
  executors:
    - id: agent
      type: azure_openai_agent
      settings: {endpoint: "http://127.0.0.1:${attacker.port}", deployment_name: d, instructions: hi, input_field: text, max_retries: 0}
`;
    e = await e2eEnv({
      STORAGE_WORKER_QUEUE_NAME: uniqueName("trust"),
      IDENTITY_ENDPOINT: `http://127.0.0.1:${identity.port}/msi/token`,
      IDENTITY_HEADER: "identity-header-secret",
      AZURE_TOKEN_CREDENTIALS: "ManagedIdentityCredential",
      OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
      MAX_TASK_RETRIES: "1",
    });
    await upsertPipeline(e.store, "pipe-blob-elsewhere", storagePipeline);
    await upsertPipeline(e.store, "pipe-ai-elsewhere", aiPipeline);
  });

  after(async () => {
    await e?.stop();
    await close(attacker);
    await close(blobAttacker);
    await close(identity);
  });

  /** The execution records of a pipeline, as stored. */
  // deno-lint-ignore no-explicit-any
  async function records(pipelineId: string): Promise<any[]> {
    const { resources } = await e.store.db.container(e.store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query({
      query: "SELECT * FROM c WHERE c.pipeline_id = @p",
      parameters: [{ name: "@p", value: pipelineId }],
    }).fetchAll();
    return resources;
  }

  async function enqueue(pipelineId: string, n: number): Promise<string> {
    const item = JSON.stringify({ id: { canonical_id: `doc-${n}`, unique_id: `doc-${n}` }, data: { text: "hello" } });
    const r = await e.run(["enqueue", "--pipeline", pipelineId, "--json", item, "--output", "json"]);
    assert.equal(r.code, 0, r.output);
    return JSON.parse(r.stdout).execution_id;
  }

  /** Runs a processing worker until every execution named is no longer pending or running. */
  async function processUntilDone(executionIds: string[], env: Record<string, string> = {}) {
    const worker = e.start(["worker", "--role=processing"], { env, timeoutMs: 120_000 });
    try {
      return await until("the executions finished", async () => {
        const all = [...await records("pipe-blob-elsewhere"), ...await records("pipe-ai-elsewhere")];
        const mine = executionIds.map((id) => all.find((r) => r.id === id));
        return mine.every((r) => r && (r.status === "completed" || r.status === "failed")) ? mine : undefined;
      }, 100_000);
    } finally {
      process.kill(worker.pid, "SIGTERM");
      await worker.finished;
    }
  }

  test("pipeline check refuses both documents, naming executor and setting", async () => {
    writeFileSync(join(dir, "blob.yaml"), storagePipeline);
    writeFileSync(join(dir, "ai.yaml"), aiPipeline);
    const r = await e.run(["pipeline", "check", "--json", join(dir, "blob.yaml"), join(dir, "ai.yaml")]);
    assert.equal(r.code, 1, r.output);
    const problems = JSON.parse(r.stdout).results.flatMap((x: { problems: unknown[] }) => x.problems);
    assert.deepEqual(
      problems.map((p: { executor: string; setting: string }) => [p.executor, p.setting]),
      [["out", "storage_account_name"], ["agent", "endpoint"]],
    );
    assert.match(problems[0].message, /'127\.0\.0\.1:\d+\/x\?' is not a storage account name/);
    assert.match(problems[1].message, /a managed-identity token goes only to .* not to '127\.0\.0\.1'/);
    assert.equal(attacker.connections + blobAttacker.connections, 0);
  });

  test("the worker refuses both pipelines; the attacker's listener sees no connection, no token", async () => {
    const ids = [await enqueue("pipe-blob-elsewhere", 1), await enqueue("pipe-ai-elsewhere", 2)];
    const [blob, ai] = await processUntilDone(ids);
    // A TLS handshake (the blob endpoint is https) counts as a connection; no request may arrive either.
    assert.deepEqual([blobAttacker.connections, blobAttacker.requests], [0, []], "storage account setting");
    assert.deepEqual([attacker.connections, attacker.requests], [0, []], "AI endpoint setting");
    assert.equal(blob.status, "failed");
    assert.match(
      blob.error,
      /executor 'out' \(azure_blob_output\).*storage_account_name: '127\.0\.0\.1:\d+\/x\?' is not/,
    );
    assert.equal(ai.status, "failed");
    assert.match(ai.error, /executor 'agent' \(azure_openai_agent\).*endpoint: a managed-identity token goes only/);
  });

  test("control: with the host in MANAGED_IDENTITY_ALLOWED_HOSTS the token does reach the listener", async () => {
    const id = await enqueue("pipe-ai-elsewhere", 3);
    const [ai] = await processUntilDone([id], { MANAGED_IDENTITY_ALLOWED_HOSTS: `127.0.0.1:${attacker.port}` });
    assert.equal(ai.status, "failed"); // the stand-in answers 500
    assert.ok(attacker.requests.length >= 1, "the listener was called");
    assert.equal(attacker.requests[0].headers.authorization, `Bearer ${TOKEN}`);
  });
});
