// Crawl benchmark: the first crawl of a vault of N blobs by the compiled binary's `worker --role=source --once`
// (batch_size 100, pass-through pipeline, a fresh checkpoint each run) against a bare SDK loop on the same emulators
// in the same run (list 5,000 blobs per call; per 100 blobs one execution record in Cosmos and one queue message),
// alternating. Prints blobs/s of both, their ratio, CPU per 1,000 blobs and the worker's peak RSS, then a block ready
// to paste into BENCHMARKS.md. The vaults are written into Azurite's store before it starts (scripts/lib/azurite-seed.ts:
// uploading 200,000 blobs through Azurite would take hours); 200,000 take about 10 s.
//
//   bun scripts/bench-crawl.ts [--quick] [--sizes 20000,200000] [--repeat R] [--binary PATH] [--compare PATH]
//     --quick     one small vault (3,000 blobs), one round: to try the benchmark
//     --sizes     vault sizes, comma-separated (default 20000,200000)
//     --repeat    rounds per size; the table shows medians (default 2)
//     --binary    measure this build instead of dist/contentflow-worker (built first if older than src/)
//     --compare   also run this build, alternately with the first (before/after of a change, e.g. a build of main;
//                 repeatable)
//     --env K=V   an extra environment variable for the binaries (repeatable)
import process from "node:process";
import { join, resolve } from "node:path";
import { cpus, loadavg } from "node:os";
import { envFlags, intFlag, textFlag } from "./lib/bench-kit.ts";
import { openBench } from "./lib/bench-measure.ts";
import { compareCrawls, crawlTable } from "./lib/bench-crawl.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: bun scripts/bench-crawl.ts [--quick] [--sizes 20000,200000] [--repeat R] [--binary PATH] [--compare PATH] [--env K=V]",
  );
  process.exit(0);
}
const flag = (name: string) => textFlag(args, name);
const quick = args.includes("--quick");
const sizes = quick ? [3000] : (flag("--sizes") ?? "20000,200000").split(",").map((s) => Number(s.trim()));
if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) {
  console.error("--sizes needs whole numbers, e.g. 20000,200000");
  process.exit(2);
}
const repeat = quick ? 1 : Math.max(1, intFlag(args, "--repeat", 2));
const env = envFlags(args);

const bench = await openBench(join(ROOT, ".data", "bench-crawl"));
try {
  const binaries = [{
    label: flag("--compare") ? "this build" : "worker",
    path: resolve(flag("--binary") ?? bench.binary),
  }];
  const others = args.flatMap((a, i) => (a === "--compare" && args[i + 1] ? [args[i + 1]] : []));
  others.forEach((other, i) =>
    binaries.push({ label: others.length > 1 ? `compared build ${i + 1}` : "compared build", path: resolve(other) })
  );
  const started = new Date();
  const results = await compareCrawls(bench, sizes, repeat, binaries, env);
  const versions = process.versions as Record<string, string | undefined>;
  const runtime = versions.bun ? `Bun ${versions.bun}` : versions.deno ? `Deno ${versions.deno}` : "Node.js";
  const load = loadavg()[0]?.toFixed(1);
  console.log(`
Crawl, \`${["bun scripts/bench-crawl.ts", ...args].join(" ")}\` on ${
    started.toISOString().slice(0, 10)
  } (${cpus().length} cores${load ? `, load average ${load} at the end` : ""}; bare loop on ${runtime}):
${binaries.map((b) => `${b.label} = ${b.path}`).join("; ")}

${crawlTable(results)}
`);
} finally {
  await bench.emu.stop();
}
