// The compiled binary's API listens on loopback unless API_HOST says otherwise: /status and /metrics are not open
// to the network by default.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";

test("compiled binary: without API_HOST the API binds 127.0.0.1 only", async () => {
  const binary = ensureBinary();
  const proc = spawn(binary, [], {
    cwd: mkdtempSync(join(tmpdir(), "cfw-bind-")),
    env: {
      PATH: process.env.PATH ?? "",
      NUM_PROCESSING_WORKERS: "0",
      NUM_SOURCE_WORKERS: "0",
      API_PORT: "0",
      COSMOS_DB_ENDPOINT: "http://127.0.0.1:1/",
      // Nothing listens there: the supervisor only reads the queue depth for its status page, and tolerates failure.
      STORAGE_QUEUE_CONNECTION_STRING:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  try {
    const listening = await new Promise<{ host: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no 'api listening' line within 30 s")), 30_000);
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        try {
          const r = JSON.parse(line);
          if (r.msg === "api listening") {
            clearTimeout(timer);
            resolve({ host: r.host, port: r.port });
          }
        } catch { /* not JSON */ }
      });
    });
    assert.equal(listening.host, "127.0.0.1");
    const local = await fetch(`http://127.0.0.1:${listening.port}/health`);
    assert.equal(local.status, 200);
    await local.body?.cancel();
    const external = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === "IPv4");
    if (external) {
      await assert.rejects(
        fetch(`http://${external.address}:${listening.port}/status`, { signal: AbortSignal.timeout(5000) }),
        `the API answered on ${external.address}`,
      );
    }
  } finally {
    proc.kill("SIGTERM");
    await exited;
  }
});
