// Records the goldens of the differential suite (docs/pipelines.md, "Differential suite"): runs every case of
// scripts/differential/corpus.ts through ContentFlow's Python executors (contentflow_runner.py, from a local checkout
// of Azure/contentflow that is never committed) and through ours, prints how far they agree, and writes
// tests/fixtures/differential/goldens.jsonl with Python's normalised outputs. Cases whose difference is accepted
// (scripts/differential/accepted.ts) also keep our output, so that tests/unit/differential.test.ts fails on any new
// difference, accepted case or not. What is normalised before comparing is listed in compare.ts.
//
// usage: deno run -A scripts/differential/record.ts [--contentflow DIR] [--python BIN] [--pptx DIR] [--check]
//   --contentflow  the checkout (default $CONTENTFLOW_DIR or /work/ref/contentflow)
//   --python       the interpreter (default $DIFFERENTIAL_PYTHON or /usr/bin/python3); it needs PyYAML and pydantic,
//                  and python-docx, openpyxl, PyMuPDF (fitz) for the extractor cases
//   --pptx         a directory holding python-pptx's `pptx` package source (default $PYTHON_PPTX_SRC or
//                  /work/ref/python-pptx/src); without it the PowerPoint cases are recorded as skipped
//   --check        compare and print only; do not write the goldens
//   --keep-python  take Python's outputs from the committed goldens instead of running Python (after a deliberate
//                  change of ours: accepted cases get our new output; a case that now differs is reported)
//   --show TEXT    also print both sides' normalised outcomes of the differing cases whose name contains TEXT
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { buildCorpus } from "./corpus.ts";
import { withDocumentPaths, writeDocuments } from "../../tests/helpers/differential-documents.ts";
import { canonicalJson, normaliseOutcome, type Outcome, runOurs } from "./compare.ts";
import { acceptedDifference } from "./accepted.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

/** Up to 8 paths where the two values differ, with both values (for --show). */
function differences(a: unknown, b: unknown, path = "", out: string[] = []): string[] {
  if (out.length >= 8 || canonicalJson(a) === canonicalJson(b)) return out;
  const isObj = (x: unknown) => x !== null && typeof x === "object";
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(ao), ...Object.keys(bo)])) {
      differences(ao[key], bo[key], `${path}.${key}`, out);
    }
    return out;
  }
  const show = (x: unknown) => (x === undefined ? "(absent)" : JSON.stringify(x).slice(0, 300));
  out.push(`${path || "."}: python ${show(a)} | ours ${show(b)}`);
  return out;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
export const GOLDENS = join(ROOT, "tests", "fixtures", "differential", "goldens.jsonl");

function flag(name: string, env: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  if (at >= 0 && process.argv[at + 1]) return process.argv[at + 1];
  return process.env[env] || fallback;
}

const checkout = flag("--contentflow", "CONTENTFLOW_DIR", "/work/ref/contentflow");
const python = flag("--python", "DIFFERENTIAL_PYTHON", "/usr/bin/python3");
const pptx = flag("--pptx", "PYTHON_PPTX_SRC", "/work/ref/python-pptx/src");
const checkOnly = process.argv.includes("--check");
const show = process.argv.includes("--show") ? flag("--show", "", "") : undefined;

const keepPython = process.argv.includes("--keep-python");

interface PythonSide {
  commit: string;
  python: string;
  pydantic: string;
  modules: Record<string, boolean>;
  results: Record<string, Outcome>;
}

/** Python's outputs as recorded in the goldens (--keep-python), for when the checkout or Python is not at hand. */
function recordedPythonSide(): PythonSide {
  const [head, ...lines] = readFileSync(GOLDENS, "utf8").trim().split("\n").map((line) => JSON.parse(line));
  const results = Object.fromEntries(lines.filter((l) => l.python).map((l) => [l.name, l.python]));
  const modules = { docx: true, openpyxl: true, fitz: true, pptx: true };
  return { commit: head.contentflow_commit, python: head.python, pydantic: head.pydantic, modules, results };
}

function runPythonSide(corpusPath: string, outPath: string): PythonSide {
  const commit = execFileSync("git", ["-C", checkout, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  execFileSync(python, [join(HERE, "contentflow_runner.py"), checkout, corpusPath, outPath, pptx], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return { commit, ...JSON.parse(readFileSync(outPath, "utf8")) };
}

const cases = buildCorpus();
const tmp = mkdtempSync(join(tmpdir(), "differential-"));
try {
  const docPaths = await writeDocuments(tmp);
  const corpusPath = join(tmp, "corpus.json");
  writeFileSync(corpusPath, JSON.stringify({ cases: withDocumentPaths(cases, docPaths) }));
  const py = keepPython ? recordedPythonSide() : runPythonSide(corpusPath, join(tmp, "python.json"));
  const commit = py.commit;

  configureLogging({ level: "error" });
  const { config } = await loadConfig({ env: {}, dotenvPath: false });
  const logger = new Logger();
  const counts = { equal: 0, accepted: 0, differing: 0, skipped: 0 };
  const differing: string[] = [];
  const goldens: Record<string, unknown> = {};
  const needs: Record<string, string> = {
    word_extractor: "docx",
    excel_extractor: "openpyxl",
    pdf_extractor: "fitz",
    powerpoint_extractor: "pptx",
  };
  for (const c of cases) {
    const module = needs[c.type];
    if ((module && !py.modules[module]) || !py.results[c.name]) {
      counts.skipped++;
      const why = module && !py.modules[module] ? `Python module ${module} was not available` : "no Python output";
      goldens[c.name] = { skipped: `${why} when recording` };
      continue;
    }
    const theirs = normaliseOutcome(py.results[c.name], docPaths);
    const ours = normaliseOutcome(await runOurs(withDocumentPaths(c, docPaths), { config, logger }, logger), docPaths);
    const same = canonicalJson(theirs) === canonicalJson(ours);
    const reason = acceptedDifference(c.name);
    if (same) {
      counts.equal++;
      goldens[c.name] = { python: theirs };
    } else if (reason) {
      counts.accepted++;
      goldens[c.name] = { python: theirs, accepted_difference: reason, ours };
    } else {
      counts.differing++;
      differing.push(c.name);
      if (show !== undefined && c.name.includes(show)) {
        console.log(`--- ${c.name}`);
        for (const line of differences(theirs, ours)) console.log(`  ${line}`);
      }
      goldens[c.name] = { python: theirs, differing: true, ours };
    }
  }
  const total = cases.length - counts.skipped;
  console.log(
    `differential: ${cases.length} cases against contentflow ${commit}` +
      ` (Python ${py.python}, pydantic ${py.pydantic}):` +
      ` ${counts.equal} equal, ${counts.accepted} accepted differences, ${counts.differing} differing` +
      (counts.skipped ? `, ${counts.skipped} skipped` : "") +
      ` (agreement ${((100 * (counts.equal + counts.accepted)) / Math.max(total, 1)).toFixed(1)} %,` +
      ` equal ${((100 * counts.equal) / Math.max(total, 1)).toFixed(1)} %)`,
  );
  for (const name of differing) console.log(`  differs: ${name}`);
  if (!checkOnly) {
    const file = {
      contentflow_commit: commit,
      python: py.python,
      pydantic: py.pydantic,
      counts,
      cases: goldens,
    };
    // JSON Lines: the header, then one case per line, so that a re-recording shows as a readable diff.
    const { cases: perCase, ...head } = file;
    const lines = [head, ...Object.entries(perCase).map(([name, g]) => ({ name, ...(g as object) }))];
    writeFileSync(GOLDENS, lines.map((x) => JSON.stringify(x)).join("\n") + "\n");
    console.log(`wrote ${GOLDENS}`);
  }
  if (counts.differing > 0) process.exitCode = 1;
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
