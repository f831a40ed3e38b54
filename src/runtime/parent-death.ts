// A worker child dies with its supervisor, even when its event loop is blocked. The child notices a closed stdin on
// its own and drains, but only while its event loop runs: one stuck in a CPU-bound step (or stopped) would outlive a
// supervisor killed with SIGKILL outside systemd (ad-hoc runs, containers without an init) and burn a core for as
// long as it stays stuck. Linux can send a signal to a process when its parent dies: prctl(PR_SET_PDEATHSIG), set
// here by the child itself through the runtime's FFI (bun:ffi under Bun and in the compiled binary, Deno.dlopen under
// Deno) calling libc. The kernel then sends SIGKILL, which no blocked event loop can delay.
//
// The signal is tied to the thread that spawned the child; both runtimes spawn from their main thread, which lives as
// long as the supervisor does.
import process from "node:process";

declare const Bun: unknown;
declare const Deno: {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): {
    symbols: Record<string, (...args: unknown[]) => number>;
    close(): void;
  };
};

const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;
/** glibc's soname; musl systems name it differently and are reported as unsupported. */
const LIBC = "libc.so.6";

interface Libc {
  prctl(option: number, arg: number): number;
  getppid(): number;
}

async function openLibc(): Promise<Libc> {
  if (typeof Bun !== "undefined") {
    // A specifier in a variable: Deno's type check must not try to resolve Bun's built-in module.
    const specifier = "bun:ffi";
    const ffi = await import(specifier);
    const { FFIType } = ffi;
    const lib = ffi.dlopen(LIBC, {
      prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
      getppid: { args: [], returns: FFIType.i32 },
    });
    return {
      prctl: (option, arg) => lib.symbols.prctl(option, arg, 0, 0, 0),
      getppid: () => lib.symbols.getppid(),
    };
  }
  if (typeof Deno !== "undefined") {
    const lib = Deno.dlopen(LIBC, {
      prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
      getppid: { parameters: [], result: "i32" },
    });
    return {
      prctl: (option, arg) => lib.symbols.prctl(option, BigInt(arg), 0n, 0n, 0n),
      getppid: () => lib.symbols.getppid(),
    };
  }
  throw new Error("no FFI in this runtime");
}

/** What asking for the parent-death signal came to: `set`, or why not (the child then relies on its stdin). */
export type ParentDeathOutcome = { set: true } | { set: false; reason: string };

/**
 * Asks the kernel to SIGKILL this process when its parent (the supervisor) dies. If the parent is already gone by
 * then (it died between spawning us and this call), exits at once.
 */
export async function dieWithParent(): Promise<ParentDeathOutcome> {
  if (process.platform !== "linux") return { set: false, reason: `not supported on ${process.platform}` };
  let libc: Libc;
  try {
    libc = await openLibc();
  } catch (err) {
    return { set: false, reason: `cannot call ${LIBC}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parent = process.ppid;
  if (libc.prctl(PR_SET_PDEATHSIG, SIGKILL) !== 0) return { set: false, reason: "prctl(PR_SET_PDEATHSIG) failed" };
  // Set too late if the parent died before the call: we were re-parented, and no signal will come.
  if (libc.getppid() !== parent) process.exit(1);
  return { set: true };
}
