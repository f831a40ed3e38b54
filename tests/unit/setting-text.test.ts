// One parser per setting kind (src/util/setting-text.ts): booleans and whole numbers written as text read the same
// in environment settings, in every executor's settings and in azure_blob_input_discovery's.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { parseBooleanText, parseIntegerText } from "../../src/util/setting-text.ts";
import { boolSetting, intSetting } from "../../src/executors/settings.ts";
import { AzureBlobInputDiscoverySettingsSchema } from "../../src/executors/builtin/azure-blob-input-discovery.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";

const BOOLEANS: Array<[string, boolean | undefined]> = [
  ["true", true],
  ["TRUE", true],
  [" True ", true],
  ["1", true],
  ["yes", true],
  ["on", true],
  ["ON", true],
  ["false", false],
  ["0", false],
  ["no", false],
  ["off", false],
  ["", undefined],
  ["tru", undefined],
  ["2", undefined],
  ["y", undefined],
  ["none", undefined],
];

const INTEGERS: Array<[string, number | undefined]> = [
  ["5", 5],
  ["+5", 5],
  ["-3", -3],
  [" 7 ", 7],
  ["007", 7],
  ["", undefined],
  ["5.0", undefined],
  ["1e3", undefined],
  ["0x10", undefined],
  ["+", undefined],
  ["5 5", undefined],
  ["five", undefined],
];

describe("parseBooleanText / parseIntegerText", () => {
  test("booleans: true/1/yes/on and false/0/no/off in any case, nothing else", () => {
    for (const [text, expected] of BOOLEANS) assert.equal(parseBooleanText(text), expected, JSON.stringify(text));
  });

  test("integers: digits with an optional sign, spaces around (Python's int())", () => {
    for (const [text, expected] of INTEGERS) assert.equal(parseIntegerText(text), expected, JSON.stringify(text));
  });
});

describe("the same rules everywhere", () => {
  const discovery = (settings: Record<string, unknown>) =>
    v.safeParse(AzureBlobInputDiscoverySettingsSchema, { blob_container_name: "c", ...settings });

  test("executor settings and azure_blob_input_discovery read every boolean word alike", () => {
    for (const [text, expected] of BOOLEANS) {
      const executor = v.safeParse(boolSetting("flag"), text);
      const discovered = discovery({ include_metadata: text });
      assert.equal(executor.success ? executor.output : undefined, expected, `executor: ${JSON.stringify(text)}`);
      assert.equal(
        discovered.success ? discovered.output.include_metadata : undefined,
        expected,
        `discovery: ${JSON.stringify(text)}`,
      );
    }
  });

  test("executor settings and azure_blob_input_discovery read every whole number alike", () => {
    for (const [text, expected] of INTEGERS) {
      const executor = v.safeParse(intSetting("n"), text);
      const discovered = discovery({ max_results: text });
      const ok = expected !== undefined && expected >= 0;
      assert.equal(executor.success ? executor.output : undefined, expected, `executor: ${JSON.stringify(text)}`);
      assert.equal(
        discovered.success ? discovered.output.max_results : undefined,
        ok ? expected : undefined,
        `discovery: ${JSON.stringify(text)}`,
      );
    }
  });

  test("environment settings: on/off and +5 as in executor settings; bad text names the setting", async () => {
    const { config } = await loadConfig({ env: { DEBUG: "on", PROCESSING_CONCURRENCY: "+5" }, dotenvPath: false });
    assert.equal(config.DEBUG, true);
    assert.equal(config.PROCESSING_CONCURRENCY, 5);
    const off = (await loadConfig({ env: { DEBUG: " OFF " }, dotenvPath: false })).config;
    assert.equal(off.DEBUG, false);
    await assert.rejects(
      loadConfig({ env: { PROCESSING_CONCURRENCY: "5.0" }, dotenvPath: false }),
      (err: Error) => err instanceof ConfigError && /PROCESSING_CONCURRENCY/.test(err.message),
    );
    await assert.rejects(
      loadConfig({ env: { DEBUG: "maybe" }, dotenvPath: false }),
      (err: Error) => err instanceof ConfigError && /DEBUG.*expected true or false/.test(err.message),
    );
  });
});
