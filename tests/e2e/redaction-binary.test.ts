// The compiled binary never prints or stores a secret: a service answers an `http` step with an error body that
// quotes the Cosmos key (a registered secret, which the worker only knows from the supervisor's pipe), a storage
// AccountKey, a SAS signature and a bearer token. The worker's log lines (forwarded by the supervisor) and the
// execution record's `error` must show none of them. `config` with a connection string in a URL setting must not
// echo its key either.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureBinary } from "../helpers/binary.ts";
import {
  enqueueItem,
  executionsOfPipeline,
  storeOwnPipeline,
  until,
  type WatchedProcess,
  watchProcess,
} from "../helpers/e2e-kit.ts";

const ACCOUNT_KEY = "TGVha2VkQWNjb3VudEtleQ==";
const SAS_SIG = "LeakedSasSignature123";
const BEARER = "eyJleGFtcGxl.LeakedBearer.token";

describe("compiled binary: secrets are redacted in worker logs and execution records", () => {
  let emu: Emulators;
  let binary: string;
  let config: Config;
  let db: Database;
  let env: Record<string, string>;
  let service: Server;
  let supervisor: WatchedProcess | undefined;
  const cwd = mkdtempSync(join(tmpdir(), "cfw-redact-"));

  before(async () => {
    binary = ensureBinary();
    emu = await startEmulators();
    const cosmosKey = emu.env.COSMOS_DB_KEY;
    service = createServer((req, res) => {
      req.resume();
      req.on("end", () =>
        res.writeHead(400, { "content-type": "text/plain" }).end(
          `denied: key ${cosmosKey} AccountKey=${ACCOUNT_KEY}; ?sv=1&sig=${SAS_SIG} Bearer ${BEARER}`,
        ));
    });
    await new Promise<void>((r) => service.listen(0, "127.0.0.1", () => r()));
    const addr = service.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    env = {
      PATH: process.env.PATH ?? "",
      ...emu.env,
      STORAGE_WORKER_QUEUE_NAME: "redact-tasks",
      NUM_PROCESSING_WORKERS: "1",
      NUM_SOURCE_WORKERS: "0",
      API_HOST: "127.0.0.1",
      API_PORT: "0",
      MAX_TASK_RETRIES: "1",
      SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "5",
    };
    ({ config, db } = await storeOwnPipeline(emu, env, {
      id: "pipe-redact",
      name: "redact",
      yaml: `pipeline:
  name: redact
  executors:
    - {id: call, type: http, settings: {url: "http://127.0.0.1:${port}/enrich", max_retries: 0, continue_on_error: false}}
`,
    }));
  });

  after(async () => {
    await supervisor?.kill();
    service?.closeAllConnections();
    await new Promise<void>((r) => (service ? service.close(() => r()) : r()));
    await emu?.stop();
  });

  test("a failing http step quoting secrets: the logs and the execution record show ***", async () => {
    enqueueItem(binary, "pipe-redact", '{"id": {"canonical_id": "doc-1", "unique_id": "doc-1"}}', { cwd, env });
    supervisor = watchProcess(binary, [], { cwd, env });
    const { lines } = supervisor;

    const record = await until("the execution record has the error", async () => {
      const records = await executionsOfPipeline(db, config, "pipe-redact");
      return records.find((r) => typeof r.error === "string" && r.error.includes("HTTP 400"));
    }, 60_000).catch((err) => {
      throw new Error(`${err.message}; supervisor output:\n${lines.join("\n")}`);
    });
    await until("the worker logged the failure", () => lines.some((l) => l.includes("HTTP 400")) || undefined, 30_000);

    const secrets = [emu.env.COSMOS_DB_KEY, ACCOUNT_KEY, SAS_SIG, BEARER];
    const logs = lines.join("\n");
    for (const secret of secrets) {
      assert.ok(!logs.includes(secret), `${secret} in the logs:\n${logs}`);
      assert.ok(!JSON.stringify(record).includes(secret), `${secret} in the record: ${record.error}`);
    }
    assert.match(String(record.error), /denied: key \*\*\* AccountKey=\*\*\*; \?sv=1&sig=\*\*\* Bearer \*\*\*/);
    assert.ok(lines.some((l) => l.includes("AccountKey=***")), "the failure is logged, redacted");

    supervisor.terminate();
    await supervisor.exited;
  });

  test("`config` does not echo a connection string put in a URL setting", () => {
    const connectionString =
      `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.windows.net`;
    const r = spawnSync(binary, ["config"], {
      cwd,
      env: { PATH: process.env.PATH ?? "", STORAGE_ACCOUNT_WORKER_QUEUE_URL: connectionString },
      encoding: "utf8",
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /STORAGE_ACCOUNT_WORKER_QUEUE_URL=\(value not shown/);
    assert.ok(!(r.stdout + r.stderr).includes(ACCOUNT_KEY), r.stdout + r.stderr);
  });
});
