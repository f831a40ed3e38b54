// The compiled binary run the way deploy/Dockerfile runs it, as far as that goes without a container engine: as
// the image's numeric non-root user (when the tests run as root; else as the current user), with no HOME, in a
// working directory it cannot write, with API_HOST=0.0.0.0 and an API_TOKEN. The reference Container App's liveness
// probe (`/`, no Accept header) gets the open service JSON, a browser gets the token check, and the image's own
// HEALTHCHECK command succeeds against it (and fails against a port nobody listens on).
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { DOCKERFILE, healthcheckArgv, parseDockerfile } from "../helpers/dockerfile.ts";

const IMAGE_UID = "65532";

/** The argv prefix that drops to the image's user when the tests run as root (setpriv from util-linux). */
function asImageUser(): string[] {
  if (process.getuid?.() !== 0) return [];
  const probe = spawnSync("setpriv", ["--version"], { encoding: "utf8" });
  if (probe.status !== 0) return [];
  return ["setpriv", `--reuid=${IMAGE_UID}`, `--regid=${IMAGE_UID}`, "--clear-groups", "--"];
}

test("compiled binary as the container runs it: open `/` JSON for the probe, HEALTHCHECK passes", async () => {
  const binary = ensureBinary();
  const cwd = mkdtempSync(join(tmpdir(), "cfw-container-"));
  chmodSync(cwd, 0o555);
  const token = "container-api-token-4711";
  const [cmd, ...args] = [...asImageUser(), binary];
  const proc = spawn(cmd, args, {
    cwd,
    env: {
      // No HOME, as in a scratch-like image; only PATH and the Container App's settings.
      PATH: process.env.PATH ?? "",
      API_HOST: "0.0.0.0",
      API_PORT: "0",
      API_TOKEN: token,
      WORKER_NAME: "aca-worker",
      NUM_PROCESSING_WORKERS: "0",
      NUM_SOURCE_WORKERS: "0",
      COSMOS_DB_ENDPOINT: "http://127.0.0.1:1/",
      STORAGE_QUEUE_CONNECTION_STRING:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no 'api listening' line within 30 s; stderr:\n${stderr}`)),
        30_000,
      );
      proc.once(
        "exit",
        (code) => reject(new Error(`the binary exited (${code}) before listening; stderr:\n${stderr}`)),
      );
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        try {
          const r = JSON.parse(line);
          if (r.msg === "api listening") {
            clearTimeout(timer);
            assert.equal(r.host, "0.0.0.0");
            resolve(r.port);
          }
        } catch { /* not JSON */ }
      });
    });
    const base = `http://127.0.0.1:${port}`;

    // The liveness probe: no Accept header, no token → the service JSON the Python worker answers at `/`.
    const root = await fetch(`${base}/`);
    assert.equal(root.status, 200);
    assert.match(root.headers.get("content-type") ?? "", /application\/json/);
    const body = await root.json();
    assert.equal(body.worker_name, "aca-worker");
    assert.equal(typeof body.service, "string");
    assert.equal(typeof body.version, "string");
    assert.ok(!JSON.stringify(body).includes(token));

    // A browser asks for HTML: the status page stays behind the token.
    const page = await fetch(`${base}/`, { headers: { accept: "text/html,application/xhtml+xml" } });
    assert.equal(page.status, 401);
    await page.body?.cancel();
    const authed = await fetch(`${base}/`, { headers: { accept: "text/html", authorization: `Bearer ${token}` } });
    assert.equal(authed.status, 200);
    assert.match(await authed.text(), /<html/i);

    // The image's HEALTHCHECK, run as written in deploy/Dockerfile.
    const [hc, ...hcArgs] = healthcheckArgv(parseDockerfile(readFileSync(DOCKERFILE, "utf8")));
    const healthy = spawnSync(hc, hcArgs, { env: { PATH: process.env.PATH ?? "", API_PORT: String(port) } });
    assert.equal(healthy.status, 0, `HEALTHCHECK failed: ${healthy.stderr}`);
    const down = spawnSync(hc, hcArgs, { env: { PATH: process.env.PATH ?? "", API_PORT: "1" } });
    assert.notEqual(down.status, 0, "HEALTHCHECK passes against a closed port");

    assert.equal(proc.exitCode, null, `the binary is still running; stderr:\n${stderr}`);
    assert.deepEqual(readdirSync(cwd), [], "nothing written to the working directory");
  } finally {
    proc.kill("SIGTERM");
    await exited;
  }
});
