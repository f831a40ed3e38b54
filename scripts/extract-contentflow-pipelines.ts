// Writes the pipeline YAML of the public ContentFlow repository (Azure/contentflow) as test fixtures: the web UI's
// active templates (contentflow-web/src/data/pipelineTemplates.ts, the entries of `pipelineTemplates` that are not
// commented out) and the library's sample pipelines (contentflow-lib/samples/**/*.yaml). Each file is written as it
// is in the repository (templates: the template literal's text), with one comment line naming where it came from.
//
//   deno run -A scripts/extract-contentflow-pipelines.ts [--mirror GIT_DIR] [--commit REV] [--out DIR]
//
// --mirror: a clone or bare mirror of Azure/contentflow (default /work/.mirror/Azure+contentflow/repo).
// The expected check results live in tests/fixtures/contentflow-pipelines/expectations.json (edited by hand).
import process from "node:process";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const TEMPLATES_PATH = "contentflow-web/src/data/pipelineTemplates.ts";
const SAMPLES_DIR = "contentflow-lib/samples";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (!value) throw new Error(`--${name} needs a value`);
  return value;
}

const gitDir = option("mirror", "/work/.mirror/Azure+contentflow/repo");
const rev = option("commit", "HEAD");
const outDir = resolve(option("out", join(ROOT, "tests", "fixtures", "contentflow-pipelines")));

function git(...args: string[]): string {
  return execFileSync("git", [`--git-dir=${gitDir}`, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
}

/** The text of a JavaScript template literal without interpolations (\` \$ \\ escapes undone). */
function templateLiteralText(raw: string, name: string): string {
  if (/(^|[^\\])\$\{/.test(raw)) throw new Error(`template literal ${name} has an interpolation; extract it by hand`);
  return raw.replace(/\\([`$\\])/g, "$1");
}

/** Active templates: `{ id: "...", ... yaml: <constName>, ... }` entries of `pipelineTemplates` not commented out. */
export function activeTemplates(source: string): Array<{ id: string; yaml: string }> {
  const constants = new Map<string, string>();
  for (const m of source.matchAll(/^const (\w+)\s*=\s*`([\s\S]*?)`;\s*$/gm)) {
    constants.set(m[1], templateLiteralText(m[2], m[1]));
  }
  const start = source.indexOf("export const pipelineTemplates");
  if (start < 0) throw new Error(`${TEMPLATES_PATH}: no 'export const pipelineTemplates'`);
  const active = source.slice(start).split("\n").filter((l) => !/^\s*\/\//.test(l)).join("\n");
  const out: Array<{ id: string; yaml: string }> = [];
  for (const m of active.matchAll(/^ {4}id: "([^"]+)",[\s\S]*?^ {4}yaml: (\w+),/gm)) {
    const yaml = constants.get(m[2]);
    if (yaml === undefined) throw new Error(`template ${m[1]}: constant ${m[2]} not found`);
    out.push({ id: m[1], yaml });
  }
  return out;
}

function main(): void {
  const commit = git("rev-parse", rev).trim();
  const short = commit.slice(0, 7);
  const templates = activeTemplates(git("show", `${commit}:${TEMPLATES_PATH}`));
  const samples = git("ls-tree", "-r", "--name-only", commit, SAMPLES_DIR).split("\n")
    .filter((p) => /\.ya?ml$/.test(p));

  for (const sub of ["web-templates", "library-samples"]) {
    const dir = join(outDir, sub);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  for (const t of templates) {
    const header =
      `# Azure/contentflow ${short}:${TEMPLATES_PATH} template '${t.id}' (scripts/extract-contentflow-pipelines.ts)\n`;
    writeFileSync(join(outDir, "web-templates", `${t.id}.yaml`), header + t.yaml.replace(/^\n/, ""));
  }
  for (const path of samples) {
    const name = path.slice(SAMPLES_DIR.length + 1).replace(/\//g, "__");
    const header = `# Azure/contentflow ${short}:${path} (scripts/extract-contentflow-pipelines.ts)\n`;
    writeFileSync(join(outDir, "library-samples", name), header + git("show", `${commit}:${path}`));
  }
  const count = (sub: string) => readdirSync(join(outDir, sub)).length;
  process.stdout.write(
    `wrote ${count("web-templates")} web templates and ${count("library-samples")} library samples from ${short} ` +
      `to ${outDir}\n`,
  );
}

if (import.meta.main) main();
