// Hostile content through the compiled binary: a web page whose link would take a backtracking regex engine minutes
// against web_scraper's link patterns, scraped beside ordinary tasks in the same worker. With the linear engine
// (src/util/linear-regex.ts) every task completes and no processing child stops sending heartbeats.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import {
  createVault,
  executionsOfVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  seedCosmos,
  type SeededStore,
  upsertPipeline,
} from "../helpers/seeded-store.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { finishedExecutions, Fleet, pipelineYaml, uniqueName } from "../helpers/e2e-kit.ts";

describe("hostile content in the compiled binary", () => {
  let emu: Emulators;
  let store: SeededStore;
  let fleet: Fleet;
  let site: Server;
  let base = "";
  const hits: string[] = [];
  // 3000 slashes: a backtracking engine needs on the order of n⁴ steps for four stars (2 KB took 100 s).
  const hostilePath = `/docs/${"/".repeat(3000)}x`;

  before(async () => {
    const binary = ensureBinary();
    emu = await startEmulators();
    store = await seedCosmos(emu);
    fleet = new Fleet(binary, emu);
    site = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      hits.push(path);
      if (path !== "/start" && path !== "/docs/v1/a/b/page.html") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(
        path === "/start"
          ? `<html><body><a href="/docs/v1/a/b/page.html">ok</a> <a href="${hostilePath}">hostile</a></body></html>`
          : "<html><head><title>Doc</title></head><body><p>doc</p></body></html>",
      );
    });
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", () => resolve()));
    base = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  });

  after(async () => {
    await fleet?.killAll();
    site?.closeAllConnections();
    await new Promise<void>((resolve) => site ? site.close(() => resolve()) : resolve());
    await emu?.stop();
  });

  test("a page with a hostile link against nested-star link_patterns stalls no worker; every task completes", {
    timeout: 120_000,
  }, async () => {
    const pipeline = "scrape-hostile";
    await upsertPipeline(
      store,
      pipeline,
      pipelineYaml(pipeline, [
        `{id: scrape, type: web_scraper, settings: {start_urls: ["${base}/start"], follow_links: true, ` +
        `link_patterns: ["${base}/docs/*/*/*/*.html"], rate_limit: 10, selectors: {}}}`,
      ]),
    );
    const queue = namedQueue(emu, uniqueName("hostile-q"));
    await queue.create();
    const vault = uniqueName("hostile-v");
    await createVault(store, vault);
    const tasks = Array.from({ length: 16 }, (_, i) => passThroughTask(vault, i, i % 4 === 0 ? pipeline : undefined));
    await preloadTasks(store, queue, tasks);
    const run = await fleet.start(queue.name, {
      WORKER_HEARTBEAT_TIMEOUT_SECONDS: "10",
      OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
    });
    await run.waitReady();
    await finishedExecutions(store, vault, tasks.length, 90_000);
    const docs = await executionsOfVault(store, vault);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.status}`), []);
    assert.equal(hits.filter((h) => h === "/start").length, 4, "each scraping task fetched its start page");
    assert.equal(hits.filter((h) => h === "/docs/v1/a/b/page.html").length, 4, "and the link that matches");
    assert.equal(hits.filter((h) => h.endsWith("x")).length, 0, "the hostile link matches no pattern");
    const children = await run.children();
    assert.deepEqual(
      children.filter((c) => c.heartbeat_kills > 0 || c.restarts > 0).map((c) => `${c.role} ${c.index}`),
      [],
      "no child was killed as hung or restarted",
    );
    assert.ok(!run.lines.some((l) => l.includes("worker stopped sending heartbeats")), "no hung worker logged");
    await run.stop();
  });
});
