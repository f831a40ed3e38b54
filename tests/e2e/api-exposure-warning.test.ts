// The compiled binary warns at start when its API binds beyond loopback without API_TOKEN (/status and /metrics
// would answer anyone who reaches the port), and stays quiet with a token.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";

/** Starts the supervisor with no workers, returns its log lines up to "api listening", then stops it. */
async function startupLines(extra: Record<string, string>): Promise<Array<Record<string, unknown>>> {
  const proc = spawn(ensureBinary(), [], {
    cwd: mkdtempSync(join(tmpdir(), "cfw-exposure-")),
    env: {
      PATH: process.env.PATH ?? "",
      NUM_PROCESSING_WORKERS: "0",
      NUM_SOURCE_WORKERS: "0",
      API_PORT: "0",
      QUEUE_METRICS_INTERVAL_SECONDS: "0",
      COSMOS_DB_ENDPOINT: "http://127.0.0.1:1/",
      STORAGE_QUEUE_CONNECTION_STRING:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;",
      ...extra,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const lines: Array<Record<string, unknown>> = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no 'api listening' line within 30 s")), 30_000);
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        try {
          const r = JSON.parse(line);
          lines.push(r);
          if (r.msg === "api listening") {
            clearTimeout(timer);
            resolve();
          }
        } catch { /* not JSON */ }
      });
    });
  } finally {
    proc.kill("SIGTERM");
    await exited;
  }
  return lines;
}

test("compiled binary: API_HOST=0.0.0.0 without API_TOKEN is a warning at start; with a token it is not", async () => {
  const open = await startupLines({ API_HOST: "0.0.0.0" });
  const warning = open.find((l) => String(l.msg).startsWith("API_HOST=0.0.0.0 is not a loopback address"));
  assert.ok(warning, JSON.stringify(open));
  assert.equal(warning.level, "warn");
  assert.match(String(warning.msg), /API_TOKEN is not set/);
  const withToken = await startupLines({ API_HOST: "0.0.0.0", API_TOKEN: "t0ken-for-the-test" });
  assert.ok(!withToken.some((l) => String(l.msg).includes("is not a loopback address")));
});
