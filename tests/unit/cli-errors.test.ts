// The CLI's top-level error handler: a usage error points at the command's own --help, and a dependency that
// refuses or cannot be reached is named with its endpoint and the kind of failure (src/util/dependency-error.ts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

declare const Deno: any;
const MAIN = resolve(import.meta.dirname ?? ".", "../../src/main.ts");

/** Runs the CLI from source without blocking this process's event loop (the fake Cosmos lives in it). */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const [command, pre] = typeof Deno !== "undefined"
    ? [Deno.execPath(), ["run", "-A", MAIN]]
    : [process.execPath, [MAIN]];
  const child = spawn(command, [...pre, ...args], {
    cwd: mkdtempSync(join(tmpdir(), "cfw-cli-errors-")),
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((r) => child.once("close", (code) => r({ code, stderr })));
}

const COSMOS_KEY = Buffer.from("not-a-real-key").toString("base64");

describe("cli: errors that name what failed", () => {
  let cosmos: Server;
  let cosmosPort = 0;
  before(async () => {
    // Answers every request as Cosmos DB does for an identity without a data-plane role.
    cosmos = createServer((_req, res) => {
      res.writeHead(403, { "content-type": "application/json", "x-ms-activity-id": "a1", "x-ms-substatus": "5301" });
      res.end(JSON.stringify({
        code: "Forbidden",
        message: "Request blocked by Auth acct : Request is blocked because principal [p] does not have required " +
          "RBAC permissions to perform action [Microsoft.DocumentDB/databaseAccounts/readMetadata] on resource [/].",
      }));
    });
    await new Promise<void>((r) => cosmos.listen(0, "127.0.0.1", () => r()));
    cosmosPort = (cosmos.address() as { port: number }).port;
  });
  after(async () => await new Promise<void>((r) => cosmos.close(() => r())));

  test("a usage error points at the command's own --help", async () => {
    const r = await cli(["worker", "--role=bogus"], {});
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown role 'bogus'.* \(see 'contentflow-worker worker --help'\)/);
    const top = await cli(["frobnicate"], {});
    assert.match(top.stderr, /unknown command 'frobnicate' \(see 'contentflow-worker --help'\)/);
  });

  test("pipeline check --pipeline: Cosmos DB 403 names the endpoint and the missing role", async () => {
    const r = await cli(["pipeline", "check", "--pipeline", "p1"], {
      COSMOS_DB_ENDPOINT: `http://127.0.0.1:${cosmosPort}/`,
      COSMOS_DB_KEY: COSMOS_KEY,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^contentflow-worker: Cosmos DB at http://127\\.0\\.0\\.1:${cosmosPort}: access denied \\(403\\): the ` +
          `identity lacks a role, it needs Cosmos DB Built-in Data Contributor`,
      ),
    );
    assert.doesNotMatch(r.stderr, new RegExp(COSMOS_KEY));
  });

  test("config: App Configuration that cannot be reached is named with its endpoint and the kind", async () => {
    const tcp = createTcpServer();
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
    const port = (tcp.address() as { port: number }).port;
    await new Promise<void>((r) => tcp.close(() => r()));
    const secret = Buffer.from("app-config-secret").toString("base64");
    const r = await cli(["config"], {
      AZURE_APP_CONFIG_CONNECTION_STRING: `Endpoint=http://127.0.0.1:${port};Id=x;Secret=${secret}`,
      CFW_APP_CONFIG_ALLOW_INSECURE: "1",
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `could not read Azure App Configuration: App Configuration at http://127\\.0\\.0\\.1:${port}: unreachable`,
      ),
    );
    assert.doesNotMatch(r.stderr, new RegExp(secret));
    assert.equal(r.stderr.split("unreachable").length, 2, `described once: ${r.stderr}`);
  });
});
