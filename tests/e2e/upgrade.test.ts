// Rolling upgrade on one VM: the supervisor of one build is stopped with SIGTERM mid-run (as systemd does on
// `install.sh --version …`) and a newer build takes over the same queue. Every task completes exactly once: the
// old supervisor drains what it runs and releases the rest at once, the new one picks them up. The newer build is
// made the way the release workflow makes its assets.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import process from "node:process";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import {
  createVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
  seedCosmos,
  type SeededStore,
} from "../helpers/seeded-store.ts";
import { BINARY, ensureBinary, ROOT } from "../helpers/binary.ts";
import { INSTALLER_ASSETS } from "../../scripts/build.mjs";
import { finishedExecutions, Fleet, pipelineYaml, slowService, uniqueName, until } from "../helpers/e2e-kit.ts";

const NEW_VERSION = "0.0.0-upgrade-test";

const HOST_TARGET = `linux-${process.arch === "arm64" ? "arm64" : "x64"}`;
const RELEASE_DIR = join(ROOT, "dist", "upgrade-test");

/**
 * A second build of the same source that reports NEW_VERSION, made as the release workflow makes its assets
 * (`scripts/build.mjs --release`); rebuilt when older than the main test binary.
 */
function newerBinary(): string {
  const out = join(RELEASE_DIR, `contentflow-worker-${NEW_VERSION}-${HOST_TARGET}`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(BINARY).mtimeMs) return out;
  rmSync(RELEASE_DIR, { recursive: true, force: true });
  const r = spawnSync("node", [
    join(ROOT, "scripts", "build.mjs"),
    "--release",
    "--version",
    `v${NEW_VERSION}`,
    "--target",
    HOST_TARGET,
    "--dir",
    RELEASE_DIR,
  ], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/build.mjs failed:\n${r.stdout}\n${r.stderr}`);
  return out;
}

function versionOf(binary: string): { version: string; commit: string; target: string; runtime: string } {
  const r = spawnSync(binary, ["version", "--json"], { encoding: "utf8" });
  return JSON.parse(r.stdout);
}

test("a release build: SHA256SUMS names the asset and the installer files with their checksums; the binary reports what it was built from", () => {
  const binary = newerBinary();
  const sums = readFileSync(join(RELEASE_DIR, "SHA256SUMS"), "utf8");
  const digest = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
  const files = [basename(binary), ...INSTALLER_ASSETS].sort((a, b) => a.localeCompare(b));
  assert.equal(sums, files.map((name) => `${digest(join(RELEASE_DIR, name))}  ${name}\n`).join(""));
  assert.match(readFileSync(join(RELEASE_DIR, "install.sh"), "utf8"), /^DEFAULT_RELEASE_URL="https:\/\/github\.com\//m);
  const info = versionOf(binary);
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  assert.equal(info.version, NEW_VERSION, "the leading v of a tag is dropped");
  assert.equal(info.target, HOST_TARGET);
  assert.equal(info.runtime, "bun-compiled");
  assert.ok(info.commit.startsWith(head), `commit ${info.commit} is HEAD ${head}`);
});

describe("rolling upgrade", () => {
  let emu: Emulators;
  let store: SeededStore;
  let slow: Awaited<ReturnType<typeof slowService>>;
  let oldFleet: Fleet;
  let newFleet: Fleet;
  let oldBinary: string;
  let newBinary: string;

  before(async () => {
    oldBinary = ensureBinary();
    newBinary = newerBinary();
    emu = await startEmulators();
    store = await seedCosmos(emu);
    slow = await slowService();
    oldFleet = new Fleet(oldBinary, emu);
    newFleet = new Fleet(newBinary, emu);
  });

  after(async () => {
    await oldFleet?.killAll();
    await newFleet?.killAll();
    await slow?.close();
    await emu?.stop();
  });

  test("a supervisor replaced by a newer binary mid-run: every task completes exactly once", {
    timeout: 180_000,
  }, async () => {
    const oldVersion = versionOf(oldBinary).version;
    assert.equal(versionOf(newBinary).version, NEW_VERSION);
    assert.notEqual(oldVersion, NEW_VERSION, "two different builds");

    const pipelineId = uniqueName("upgrade-p");
    const step = `{id: call, type: http, settings: {url: "http://127.0.0.1:${slow.port}/slow?ms=250", ` +
      `max_retries: 0, request_timeout_secs: 60}}`;
    await store.db.container(store.config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
      id: pipelineId,
      name: pipelineId,
      yaml: pipelineYaml(pipelineId, [step]),
    });
    const queue = namedQueue(emu, uniqueName("upgrade-q"));
    await queue.create();
    const vault = uniqueName("upgrade-v");
    await createVault(store, vault);
    const n = 120;
    await preloadTasks(store, queue, Array.from({ length: n }, (_, i) => passThroughTask(vault, i, pipelineId)));
    const env = { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1", HTTP_EXECUTOR_ALLOWED_HOSTS: "*" };

    const oldName = uniqueName("upgrade-old");
    const newName = uniqueName("upgrade-new");
    const before = await oldFleet.start(queue.name, { ...env, WORKER_NAME: oldName });
    await before.waitReady();
    await until("the old build has done part of the work", () => slow.requests() >= 20, 60_000);
    const requestsAtSwap = slow.requests();
    // The swap: stop the old supervisor (it drains its in-flight tasks) and start the new build right away.
    const stopping = before.stop("SIGTERM");
    const afterSwap = await newFleet.start(queue.name, { ...env, WORKER_NAME: newName });
    await stopping;
    const health = await (await afterSwap.get("/health")).json();
    assert.equal(health.version, NEW_VERSION, "the new supervisor is the new build");

    const docs = await finishedExecutions(store, vault, n, 120_000);
    assert.equal(docs.length, n);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.error}`), []);
    await until("queue empty", async () => (await queueLength(queue)) === 0);
    // Every task called the slow service exactly once: no task ran twice across the swap, none was lost.
    assert.equal(slow.requests(), n, `side-effect calls: ${slow.requests()} for ${n} tasks`);
    assert.ok(requestsAtSwap < n, "the swap happened mid-run");
    const byOld = docs.filter((d) => d.processing_worker_id?.startsWith(oldName)).length;
    const byNew = docs.filter((d) => d.processing_worker_id?.startsWith(newName)).length;
    assert.equal(byOld + byNew, n, "every record names the worker that completed it");
    assert.ok(byOld > 0 && byNew > 0, `both builds completed tasks (old ${byOld}, new ${byNew})`);
    await afterSwap.stop();
  });
});
