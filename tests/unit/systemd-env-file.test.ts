// Env files read as systemd's EnvironmentFile= reads them (systemd.exec(5)), so `config --env-file` shows what the
// unit passes to the service.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSystemdEnvironmentFile } from "../../src/config/systemd-env-file.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";

describe("systemd EnvironmentFile= parsing", () => {
  test("comments only on lines starting with # or ;", () => {
    assert.deepEqual(
      parseSystemdEnvironmentFile("# c\n  ; c too\nA=3 # three\nB=x;y\n"),
      { A: "3 # three", B: "x;y" },
    );
  });

  test("whitespace: around key and value dropped, interior kept, escaped kept", () => {
    assert.deepEqual(
      parseSystemdEnvironmentFile("  KEY =   a  b  \nT=x\\ \nE=\n"),
      { KEY: "a  b", T: "x ", E: "" },
    );
  });

  test("quotes: single verbatim, double with four escapes, text after a quote appended, multi-line", () => {
    const text = [
      `S='a \\n "b" # c'`,
      `D="x\\"y\\\\z\\$w\\q"`,
      `J="a" b`,
      `M="line1`,
      `line2"`,
      `Q='it''s'`,
    ].join("\n");
    assert.deepEqual(parseSystemdEnvironmentFile(text), {
      S: `a \\n "b" # c`,
      D: `x"y\\z$w\\q`,
      J: "ab",
      M: "line1\nline2",
      Q: "its",
    });
  });

  test("backslash continuation; lines without '=' and invalid names ignored; a trailing '\\' ends a comment", () => {
    assert.deepEqual(
      parseSystemdEnvironmentFile("A=one \\\ntwo\nnot a line\nexport B=1\n1X=2\n# c \\\nC=3"),
      { A: "one two", C: "3" },
    );
  });

  test("`config --env-file`: the value systemd passes is refused the way the service refuses it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfw-envfile-"));
    const file = join(dir, "env");
    writeFileSync(file, "NUM_PROCESSING_WORKERS=3 # three\n");
    await assert.rejects(
      loadConfig({ env: {}, dotenvPath: file, dotenvFormat: "systemd" }),
      (err: unknown) =>
        err instanceof ConfigError && /NUM_PROCESSING_WORKERS="3 # three": expected a whole number/.test(err.message),
    );
    // The dotenv reading of ./.env keeps its ` #` comments.
    const { config } = await loadConfig({ env: {}, dotenvPath: file });
    assert.equal(config.NUM_PROCESSING_WORKERS, 3);
  });
});
