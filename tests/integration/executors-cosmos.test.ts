// cosmos_db_lookup against the Cosmos emulator (@vercel/cosmosdb-server): point reads, parameterised queries,
// result modes, errors recorded on the item or failing it, and settings refused at compile time.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Container } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { Logger } from "../../src/log/logger.ts";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorInstance, ExecutorRunContext } from "../../src/executors/types.ts";
import { SDK_TIMEOUT_MS, testCosmos, uniqueName, withTimeout } from "../helpers/processing-kit.ts";

const logger = new Logger();
const registry = defaultRegistry();

const item = (n: number, data: Record<string, unknown>): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}` },
  data,
  summary_data: {},
  executor_logs: [],
});

describe("cosmos_db_lookup on the Cosmos emulator", () => {
  let emu: Emulators;
  let config: Config;
  let database: string;
  const containerName = "products";
  let container: Container;
  const open: ExecutorInstance[] = [];

  before(async () => {
    emu = await startEmulators({ queue: false, blob: false });
    // emu.env allows loopback targets (OUTBOUND_ALLOWED_PRIVATE_HOSTS), as the emulator is on 127.0.0.1.
    config = (await loadConfig({ env: emu.env, dotenvPath: false })).config;
    database = uniqueName("lookup");
    const client = testCosmos(emu);
    const { database: db } = await withTimeout(
      client.databases.createIfNotExists({ id: database }),
      SDK_TIMEOUT_MS,
      "db",
    );
    ({ container } = await withTimeout(
      db.containers.createIfNotExists({ id: containerName, partitionKey: { paths: ["/category"] } }),
      SDK_TIMEOUT_MS,
      "container",
    ));
    const rows = [
      { id: "p1", sku: "A-1", category: "tools", price: 10 },
      { id: "p2", sku: "A-2", category: "tools", price: 20 },
      { id: "p3", sku: "B-1", category: "toys", price: 5 },
    ];
    for (const row of rows) await withTimeout(container.items.create(row), SDK_TIMEOUT_MS, "seed");
  });

  after(async () => {
    for (const e of open) await e.close?.();
    await emu?.stop();
  });

  const base = () => ({
    cosmos_endpoint: emu.cosmosEndpoint,
    cosmos_key: emu.env.COSMOS_DB_KEY,
    cosmos_database: database,
    cosmos_container: containerName,
  });

  function make(settings: Record<string, unknown>, id = "lookup"): ExecutorInstance {
    const e = createExecutor({ id, type: "cosmos_db_lookup", settings: { ...base(), ...settings } }, registry, {
      config,
      logger,
    });
    open.push(e);
    return e;
  }

  const ctx = (extra: Partial<ExecutorRunContext> = {}): ExecutorRunContext => ({
    executorId: "lookup",
    pipelineName: "p",
    signal: AbortSignal.timeout(SDK_TIMEOUT_MS),
    logger,
    ...extra,
  });

  async function lookup(e: ExecutorInstance, input: Content, extra: Partial<ExecutorRunContext> = {}) {
    const out = await e.processItem!(input, ctx(extra));
    return Array.isArray(out) ? out[0] : out;
  }

  const strip = (doc: unknown) =>
    Object.fromEntries(Object.entries(doc as Record<string, unknown>).filter(([k]) => !k.startsWith("_")));

  test("query mode (default): all matches as a list; @ added to parameter names; status success", async () => {
    const e = make({
      query_template: "SELECT * FROM c WHERE c.category = @cat ORDER BY c.price",
      field_mappings: { cat: "product.category" },
    });
    const out = await lookup(e, item(1, { product: { category: "tools" } }));
    const found = out.data?.cosmos_lookup_result as unknown[];
    assert.deepEqual(found.map(strip), [
      { id: "p1", sku: "A-1", category: "tools", price: 10 },
      { id: "p2", sku: "A-2", category: "tools", price: 20 },
    ]);
    assert.equal(out.summary_data?.cosmos_lookup_status, "success");
    assert.equal(out.data?.product !== undefined, true);
  });

  test("result_mode first, flatten_single, max_results, output_field, partition_key_field", async () => {
    const q = "SELECT * FROM c WHERE c.category = @cat ORDER BY c.price";
    const first = make({ query_template: q, field_mappings: '{"@cat": "cat"}', result_mode: "first" });
    assert.equal(strip((await lookup(first, item(1, { cat: "tools" }))).data?.cosmos_lookup_result).id, "p1");
    assert.equal((await lookup(first, item(2, { cat: "none" }))).data?.cosmos_lookup_result, null);

    const flat = make({
      query_template: q,
      field_mappings: { "@cat": "cat" },
      flatten_single: true,
      output_field: "hit",
    });
    assert.equal(strip((await lookup(flat, item(3, { cat: "toys" }))).data?.hit).id, "p3");
    assert.equal(((await lookup(flat, item(4, { cat: "tools" }))).data?.hit as unknown[]).length, 2);

    const capped = make({ query_template: q, field_mappings: { "@cat": "cat" }, max_results: 1 });
    assert.equal(((await lookup(capped, item(5, { cat: "tools" }))).data?.cosmos_lookup_result as unknown[]).length, 1);

    const scoped = make({
      query_template: "SELECT * FROM c WHERE c.sku = @sku",
      field_mappings: { sku: "sku" },
      partition_key_field: "cat",
    });
    const got = (await lookup(scoped, item(6, { sku: "B-1", cat: "toys" }))).data?.cosmos_lookup_result as unknown[];
    assert.deepEqual(got.map((d) => strip(d).id), ["p3"]);
  });

  test("a parameter whose field is missing is sent as null", async () => {
    const e = make({ query_template: "SELECT * FROM c WHERE c.sku = @sku", field_mappings: { sku: "nope" } });
    const out = await lookup(e, item(1, {}));
    assert.deepEqual(out.data?.cosmos_lookup_result, []);
    assert.equal(out.summary_data?.cosmos_lookup_status, "success");
  });

  test("point_read: the item, null when absent, null when id or partition key is missing", async () => {
    const e = make({ lookup_mode: "point_read", field_mappings: { id: "ref.id", partition_key: "ref.cat" } });
    const hit = await lookup(e, item(1, { ref: { id: "p2", cat: "tools" } }));
    assert.deepEqual(strip(hit.data?.cosmos_lookup_result), { id: "p2", sku: "A-2", category: "tools", price: 20 });
    assert.equal(hit.summary_data?.cosmos_lookup_status, "success");
    assert.equal((await lookup(e, item(2, { ref: { id: "zz", cat: "tools" } }))).data?.cosmos_lookup_result, null);
    assert.equal((await lookup(e, item(3, { ref: { id: "p2" } }))).data?.cosmos_lookup_result, null);
  });

  test("a failed lookup is recorded on the item (executor and item named), or thrown with fail_pipeline_on_error", async () => {
    const e = make({ query_template: "SELECT * FROM c WHERE", field_mappings: {} });
    const out = await lookup(e, item(7, { x: 1 }));
    assert.equal(out.data?.cosmos_lookup_result, null);
    assert.equal(out.data?.x, 1);
    assert.equal(out.summary_data?.cosmos_lookup_status, "error");
    assert.match(
      String(out.summary_data?.cosmos_lookup_error),
      new RegExp(`^executor 'lookup', item c7: lookup in ${database}/products failed: Cosmos DB answered 400`),
    );
    await assert.rejects(
      lookup(e, item(8, {}), { failPipelineOnError: true }),
      /executor 'lookup', item c8: lookup in/,
    );

    const missing = make({ query_template: "SELECT * FROM c", cosmos_container: "no_such_container" });
    const r = await lookup(missing, item(9, {}));
    assert.match(String(r.summary_data?.cosmos_lookup_error), /no_such_container failed: Cosmos DB answered 404/);
  });

  test("in a pipeline: max_concurrent 5 and fail_pipeline_on_error false by default; the key never appears", async () => {
    const yaml = `pipeline:
  name: enrich
  executors:
    - id: lookup
      type: cosmos_db_lookup
      settings:
        cosmos_endpoint: "\${EP}"
        cosmos_key: "${emu.env.COSMOS_DB_KEY}"
        cosmos_database: ${database}
        cosmos_container: ${containerName}
        query_template: "SELECT c.sku, c.price FROM c WHERE c.sku = @sku"
        field_mappings: {"@sku": "sku"}
        result_mode: first
`;
    const p = compilePipeline(
      parsePipelineYaml(yaml, { env: { EP: emu.cosmosEndpoint } }),
      {
        registry,
        deps: { config, logger },
      },
    );
    try {
      assert.equal(p.nodes.get("lookup")!.common.max_concurrent, 5);
      assert.equal(p.nodes.get("lookup")!.common.fail_pipeline_on_error, false);
      const r = await runPipeline(p, [item(1, { sku: "A-2" }), item(2, { sku: "nope" })], {
        signal: AbortSignal.timeout(SDK_TIMEOUT_MS),
        logger,
      });
      assert.equal(r.status, "completed", r.error);
      assert.deepEqual(r.content.map((c) => c.data?.cosmos_lookup_result), [{ sku: "A-2", price: 20 }, null]);
      assert.deepEqual(r.content[0].executor_logs?.map((l) => [l.executor_id, l.status]), [["lookup", "completed"]]);
      assert.ok(!JSON.stringify(r).includes(emu.env.COSMOS_DB_KEY));
    } finally {
      await p.close();
    }
  });

  test("the endpoint must pass the outbound policy: a loopback endpoint needs OUTBOUND_ALLOWED_PRIVATE_HOSTS", async () => {
    const strict = (await loadConfig({ env: { ...emu.env, OUTBOUND_ALLOWED_PRIVATE_HOSTS: "" }, dotenvPath: false }))
      .config;
    assert.throws(
      () =>
        createExecutor(
          {
            id: "l",
            type: "cosmos_db_lookup",
            settings: { ...base(), query_template: "SELECT * FROM c" },
          },
          registry,
          { config: strict, logger },
        ),
      (err: unknown) =>
        err instanceof PipelineError &&
        /executor 'l' \(cosmos_db_lookup\): .*127\.0\.0\.1.*OUTBOUND_ALLOWED_PRIVATE_HOSTS/.test(err.message),
    );
    const elsewhere =
      (await loadConfig({ env: { ...emu.env, OUTBOUND_ALLOWED_HOSTS: "*.documents.azure.com" }, dotenvPath: false }))
        .config;
    assert.throws(
      () =>
        createExecutor(
          {
            id: "l",
            type: "cosmos_db_lookup",
            settings: { ...base(), query_template: "SELECT * FROM c" },
          },
          registry,
          { config: elsewhere, logger },
        ),
      /not in OUTBOUND_ALLOWED_HOSTS/,
    );
  });

  test("refused at compile time: missing key, query_template, point_read mappings, bad endpoint", () => {
    const refuses = (settings: Record<string, unknown>, message: RegExp) =>
      assert.throws(
        () =>
          createExecutor({ id: "l", type: "cosmos_db_lookup", settings: { ...base(), ...settings } }, registry, {
            config,
            logger,
          }),
        (err: unknown) => err instanceof PipelineError && message.test(err.message),
      );
    refuses(
      { cosmos_key: "", query_template: "SELECT * FROM c" },
      /cosmos_key is required when credential_type is 'key'/,
    );
    refuses({}, /executor 'l' \(cosmos_db_lookup\): invalid settings: query_template is required when lookup_mode/);
    refuses(
      { lookup_mode: "point_read", field_mappings: { id: "x" } },
      /field_mappings must map 'id' and 'partition_key'/,
    );
    refuses(
      { cosmos_endpoint: "ftp://x", query_template: "SELECT * FROM c" },
      /cosmos_endpoint must be an http\(s\) URL/,
    );
    refuses({ cosmos_database: "", query_template: "SELECT * FROM c" }, /cosmos_database/);
  });
});
