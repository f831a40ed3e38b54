// Child side of the supervisor protocol: receive the config, report state, and turn "drain", SIGTERM or a closed
// stdin (supervisor gone) into ctx.drain. A child whose supervisor is gone is also killed once the drain time has
// passed (runtime/parent-death.ts), which works even while its event loop is blocked.
import process from "node:process";
import { createInterface } from "node:readline";
import * as v from "valibot";
import { SupervisorCommandSchema, type WorkerState } from "./ipc.ts";
import type { WorkerReporter } from "../model/worker-context.ts";
import type { CounterName, LabelledCounterName } from "../model/counters.ts";
import type { Config } from "../config/schema.ts";
import { type ConfigSource, registerConfigSecrets } from "../config/load.ts";
import { dieWithParent, type ParentWatch } from "../runtime/parent-death.ts";

const HEARTBEAT_MS = 2000;
/** Beyond the drain time, how long an orphaned child may take to exit before it is killed. */
const ORPHAN_MARGIN_MS = 2000;
/** Counter, gauge and in-flight changes wait at most this long for the next report; readiness goes at once. */
const COUNTER_REPORT_MS = 1000;
/** Counters reported at once: the supervisor wakes idle processing workers when a source worker enqueued. */
const URGENT_COUNTERS: ReadonlySet<string> = new Set(["tasks_enqueued_total"]);

/**
 * Writes state reports as a heartbeat, at once when readiness changes (coalesced within a microtask), and at most
 * once per COUNTER_REPORT_MS for counters, gauges, info and the in-flight count: a busy worker changes those
 * several times per task, and a full report per change cost more CPU than the task's own work.
 */
export class IpcReporter implements WorkerReporter {
  private state: WorkerState;
  private pending = false;
  private timer: ReturnType<typeof setInterval>;
  private countersTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    workerId: string,
    private readonly write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
  ) {
    this.state = { ipc: "state", ready: false, in_flight: 0, worker_id: workerId, counters: {}, gauges: {}, info: {} };
    this.timer = setInterval(() => this.flush(), HEARTBEAT_MS);
    (this.timer as { unref?: () => void }).unref?.();
    this.flush();
  }

  private changed(): void {
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(() => this.pending && this.flush());
  }

  /** A counter-like change: reported with the next report, which comes within COUNTER_REPORT_MS. */
  private counted(): void {
    if (this.countersTimer || this.pending) return;
    this.countersTimer = setTimeout(() => this.flush(), COUNTER_REPORT_MS);
    (this.countersTimer as { unref?: () => void }).unref?.();
  }

  flush(): void {
    this.pending = false;
    if (this.countersTimer) clearTimeout(this.countersTimer);
    this.countersTimer = undefined;
    this.write(JSON.stringify(this.state));
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }

  setReady(ready: boolean, reason?: string): void {
    if (this.state.ready === ready && this.state.reason === reason) return;
    this.state.ready = ready;
    this.state.reason = reason;
    this.changed();
  }
  setInFlight(count: number): void {
    this.state.in_flight = count;
    this.counted();
  }
  count(counter: CounterName | LabelledCounterName, by = 1): void {
    this.state.counters[counter] = (this.state.counters[counter] ?? 0) + by;
    if (URGENT_COUNTERS.has(counter)) this.changed();
    else this.counted();
  }
  gauge(name: string, value: number): void {
    this.state.gauges[name] = value;
    this.counted();
  }
  info(key: string, value: unknown): void {
    this.state.info[key] = value;
    this.counted();
  }
}

export interface SupervisedChannel {
  config: Config;
  sources: Record<string, ConfigSource>;
  /** Resolves when the supervisor asks for a drain or its pipe closes. */
  drainRequested: Promise<string>;
  /** Calls `listener` whenever the supervisor says tasks were just enqueued (look at the queue now). */
  onWake(listener: () => void): void;
  /** Whether this process is killed when the supervisor is gone and the drain time has passed (else only its stdin
   * tells it, which a blocked event loop never reads). */
  parentDeath: ParentWatch;
}

/**
 * Reads the supervisor's commands from stdin; the first must be the config (within `timeoutMs`). From then on the
 * process dies with the supervisor: SHUTDOWN_DRAIN_TIMEOUT_SECONDS (and a margin) after it is gone at the latest.
 */
export function openSupervisedChannel(timeoutMs = 15_000): Promise<SupervisedChannel> {
  const supervisorPid = process.ppid;
  return new Promise((resolve, reject) => {
    let resolveDrain: (why: string) => void;
    const drainRequested = new Promise<string>((r) => (resolveDrain = r));
    let gotConfig = false;
    const wakeListeners: (() => void)[] = [];
    const onWake = (listener: () => void) => void wakeListeners.push(listener);
    const timer = setTimeout(
      () => reject(new Error(`no configuration from the supervisor within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const rl = createInterface({ input: process.stdin });
    rl.on("line", (line) => {
      let parsed;
      try {
        parsed = v.safeParse(SupervisorCommandSchema, JSON.parse(line));
      } catch {
        return;
      }
      if (!parsed.success) return;
      const cmd = parsed.output;
      if (cmd.cmd === "config" && !gotConfig) {
        gotConfig = true;
        clearTimeout(timer);
        // Already validated by the supervisor (our own parent, over a private pipe): typed values, not raw strings.
        // This process never ran loadConfig, so its secrets are registered for redaction here.
        registerConfigSecrets(cmd.config as unknown as Config);
        const drainSeconds = Number(
          (cmd.config as { SHUTDOWN_DRAIN_TIMEOUT_SECONDS?: unknown }).SHUTDOWN_DRAIN_TIMEOUT_SECONDS,
        );
        const parentDeath = dieWithParent(
          supervisorPid,
          (Number.isFinite(drainSeconds) ? drainSeconds : 30) * 1000 + ORPHAN_MARGIN_MS,
        );
        resolve({
          config: cmd.config as unknown as Config,
          sources: cmd.sources as Record<string, ConfigSource>,
          drainRequested,
          onWake,
          parentDeath,
        });
      } else if (cmd.cmd === "drain") {
        resolveDrain("drain requested by the supervisor");
      } else if (cmd.cmd === "wake") {
        for (const listener of wakeListeners) listener();
      }
    });
    rl.on("close", () => {
      resolveDrain("supervisor pipe closed");
      if (!gotConfig) {
        clearTimeout(timer);
        reject(new Error("the supervisor closed the pipe before sending the configuration"));
      }
    });
  });
}
