// Outbound calls to URLs taken from pipeline settings or content (untrusted): an allow-list of hosts, and a refusal
// of loopback, private, link-local, carrier-grade NAT, unique-local and cloud metadata addresses unless the operator
// allowed them. Every executor that calls such a URL goes through guardedFetch (or assertOutboundUrl before an SDK
// client uses the endpoint), and reads bodies with readBodyLimited/readTextLimited.
//
// Limit (DNS rebinding): the host name is resolved and every address checked, then fetch() resolves the name again
// on its own. A DNS server that answers with a public address for the check and a private one a moment later can
// slip past. Pinning the checked address is not possible with fetch() over TLS (the certificate is for the name), so
// we do not claim it. Where that matters, keep OUTBOUND_ALLOWED_HOSTS to names you trust and block private ranges at
// the network level (NSG / egress firewall), which is the real control.
import ipaddr from "ipaddr.js";
import { lookup } from "node:dns/promises";
import type { Config } from "../config/schema.ts";
import { readStreamLimited } from "../util/read-limited.ts";

export { ResponseTooLargeError } from "../util/read-limited.ts";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Resolves a host name to every address it has (A and AAAA). */
export type Resolver = (hostname: string) => Promise<string[]>;

export interface OutboundPolicy {
  /** Host names (lower case) or "*.suffix" patterns; "*" allows any host, an empty list none. */
  readonly allowedHosts: readonly string[];
  /** Host names / "*.suffix" patterns whose addresses may be private. */
  readonly privateHostNames: readonly string[];
  /** Address ranges that may be called although they are private. */
  readonly privateRanges: readonly [Address, number][];
  readonly resolve: Resolver;
}

export class OutboundBlockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboundBlockedError";
  }
}

/** The host name could not be resolved (maybe for a moment): not a refusal, a caller may retry. */
export class OutboundResolveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutboundResolveError";
  }
}

const defaultResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** Addresses that are public unicast in form but belong to the cloud platform (Azure WireServer / host DNS). */
const METADATA_ADDRESSES = ["168.63.129.16"].map((a) => ipaddr.parse(a));
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");

function normalizeHost(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

function nameMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("*.")) return name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1;
  return pattern === name;
}

/**
 * Whether the URL's host is one of `patterns`: host names, "*.suffix" (subdomains only) or "host:port", compared
 * in lower case without a trailing dot. "*" matches nothing here: callers that mean "any host" say so themselves.
 */
export function hostListed(url: URL, patterns: readonly string[]): boolean {
  const name = normalizeHost(url.hostname);
  const hostPort = url.host.toLowerCase();
  return patterns.some((raw) => {
    const p = normalizeHost(raw.trim());
    return p !== "" && p !== "*" && (nameMatches(p, name) || p === hostPort);
  });
}

/**
 * Builds a policy. `allowedPrivate` entries are host names (or "*.suffix"), IP addresses or CIDR ranges.
 * Throws on an entry that looks like an address but does not parse.
 */
export function makeOutboundPolicy(opts: {
  allowedHosts: readonly string[];
  allowedPrivate?: readonly string[];
  resolve?: Resolver;
}): OutboundPolicy {
  const privateHostNames: string[] = [];
  const privateRanges: [Address, number][] = [];
  for (const raw of opts.allowedPrivate ?? []) {
    const entry = normalizeHost(raw.trim());
    if (!entry) continue;
    if (entry.includes("/")) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`'${raw}' is not a valid CIDR range`);
      privateRanges.push(ipaddr.parseCIDR(entry));
    } else if (ipaddr.isValid(entry)) {
      const addr = ipaddr.process(entry);
      privateRanges.push([addr, addr.kind() === "ipv4" ? 32 : 128]);
    } else {
      privateHostNames.push(entry);
    }
  }
  return {
    allowedHosts: opts.allowedHosts.map((h) => normalizeHost(h.trim())).filter((h) => h.length > 0),
    privateHostNames,
    privateRanges,
    resolve: opts.resolve ?? defaultResolver,
  };
}

/** The policy from settings OUTBOUND_ALLOWED_HOSTS and OUTBOUND_ALLOWED_PRIVATE_HOSTS. */
export function outboundPolicy(config: Config, resolve?: Resolver): OutboundPolicy {
  return makeOutboundPolicy({
    allowedHosts: config.OUTBOUND_ALLOWED_HOSTS,
    allowedPrivate: config.OUTBOUND_ALLOWED_PRIVATE_HOSTS,
    resolve,
  });
}

/** Why an address may not be called without being allowed ("loopback", "private", ...), or undefined if public. */
export function nonPublicKind(address: string): string | undefined {
  let addr: Address;
  try {
    addr = ipaddr.process(address.replace(/^\[|\]$/g, "").replace(/%.*$/, ""));
  } catch {
    return "unparsable address";
  }
  if (METADATA_ADDRESSES.some((m) => m.kind() === addr.kind() && m.toString() === addr.toString())) {
    return "cloud metadata";
  }
  const range = addr.range();
  if (addr.kind() === "ipv4") {
    if (range === "linkLocal" && addr.toString() === "169.254.169.254") return "cloud metadata";
    return range === "unicast" ? undefined : range;
  }
  if (range !== "unicast") return range;
  // Outside 2000::/3 nothing is global unicast (e.g. the deprecated IPv4-compatible ::a.b.c.d).
  return (addr as ipaddr.IPv6).match(IPV6_GLOBAL_UNICAST) ? undefined : "reserved";
}

function privateAllowed(policy: OutboundPolicy, hostname: string, address: string): boolean {
  if (policy.privateHostNames.some((p) => nameMatches(p, hostname))) return true;
  const addr = ipaddr.process(address.replace(/%.*$/, ""));
  return policy.privateRanges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost") || name === "localhost.localdomain";
}

/**
 * The checks that need no DNS: scheme, host allow-list, and (for literal addresses and localhost names) the
 * private-address rule. Pipelines call it when they are compiled so a bad URL fails early.
 */
export function checkOutboundUrl(url: string | URL, policy: OutboundPolicy): URL {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : url;
  } catch {
    throw new OutboundBlockedError(`'${String(url).slice(0, 200)}' is not a valid URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new OutboundBlockedError(`${parsed.protocol} URLs are not allowed (only http and https)`);
  }
  const name = normalizeHost(parsed.hostname);
  const allowed = policy.allowedHosts;
  if (!allowed.includes("*")) {
    if (allowed.length === 0) {
      throw new OutboundBlockedError(`calls to '${name}' are refused: OUTBOUND_ALLOWED_HOSTS is empty`);
    }
    const hostPort = parsed.host.toLowerCase();
    if (!allowed.some((p) => nameMatches(p, name) || p === hostPort)) {
      throw new OutboundBlockedError(`host '${name}' is not in OUTBOUND_ALLOWED_HOSTS (${allowed.join(", ")})`);
    }
  }
  if (ipaddr.isValid(name)) {
    const kind = nonPublicKind(name);
    if (kind && !privateAllowed(policy, name, name)) throw privateError(name, name, kind);
  } else if (isLocalhostName(name) && !policy.privateHostNames.some((p) => nameMatches(p, name))) {
    throw privateError(name, "127.0.0.1", "loopback");
  }
  return parsed;
}

function privateError(host: string, address: string, kind: string): OutboundBlockedError {
  const where = host === address ? `address ${address}` : `host '${host}' (resolves to ${address})`;
  return new OutboundBlockedError(
    `calls to ${where} are refused: ${kind} addresses need OUTBOUND_ALLOWED_PRIVATE_HOSTS`,
  );
}

/**
 * Full check of a URL before a call: scheme, allow-list, then every address the host resolves to. For SDK clients
 * that do their own HTTP; call it before using an endpoint taken from settings.
 */
export async function assertOutboundUrl(url: string | URL, policy: OutboundPolicy): Promise<URL> {
  const parsed = checkOutboundUrl(url, policy);
  const name = normalizeHost(parsed.hostname);
  if (ipaddr.isValid(name)) return parsed; // checked above
  let addresses: string[];
  try {
    addresses = await policy.resolve(name);
  } catch (err) {
    throw new OutboundResolveError(`cannot resolve host '${name}': ${(err as Error).message}`);
  }
  if (addresses.length === 0) throw new OutboundResolveError(`cannot resolve host '${name}': no addresses`);
  for (const address of addresses) {
    const kind = nonPublicKind(address);
    if (kind && !privateAllowed(policy, name, address)) throw privateError(name, address, kind);
  }
  return parsed;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that carry credentials; dropped when a redirect leaves the original origin. */
const CREDENTIAL_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "api-key",
  "x-api-key",
  "x-functions-key",
];

export interface GuardedFetchOptions {
  policy: OutboundPolicy;
  /** Redirects to follow, each target checked like the first URL. 0: a 3xx response is returned as it is. */
  maxRedirects?: number;
}

/**
 * fetch() with the outbound policy applied to the URL and to every redirect target (followed by hand).
 * Throws OutboundBlockedError when a URL is refused or there are more than `maxRedirects` redirects.
 */
export async function guardedFetch(url: string | URL, init: RequestInit, opts: GuardedFetchOptions): Promise<Response> {
  const maxRedirects = opts.maxRedirects ?? 5;
  let current = await assertOutboundUrl(url, opts.policy);
  let method = (init.method ?? "GET").toUpperCase();
  let body = init.body;
  let headers = new Headers(init.headers);
  const origin = current.origin;
  for (let redirects = 0;; redirects++) {
    const res = await fetch(current, { ...init, method, body, headers, redirect: "manual" });
    const location = res.headers.get("location");
    if (!REDIRECT_STATUSES.has(res.status) || !location || maxRedirects === 0) return res;
    await res.body?.cancel().catch(() => undefined);
    if (redirects >= maxRedirects) {
      throw new OutboundBlockedError(`more than ${maxRedirects} redirects, starting at ${origin}`);
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new OutboundBlockedError(`redirect from ${current.origin} to an invalid URL`);
    }
    current = await assertOutboundUrl(next, opts.policy);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      if (method !== "HEAD") method = "GET";
      body = undefined;
      headers = new Headers(headers);
      headers.delete("content-type");
      headers.delete("content-length");
    }
    if (current.origin !== origin) {
      headers = new Headers(headers);
      for (const h of CREDENTIAL_HEADERS) headers.delete(h);
    }
  }
}

/**
 * Reads a response body, stopping (and cancelling the rest) once it is larger than `maxBytes`. `what` names the body
 * in the error, e.g. "response of POST https://x/y"; `limitSetting` names the setting that raises the limit.
 */
export async function readBodyLimited(
  res: Response,
  maxBytes: number,
  what: string,
  limitSetting?: string,
): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "");
  if (!res.body) return new Uint8Array();
  return await readStreamLimited(res.body, maxBytes, what, {
    limitSetting,
    declaredBytes: Number.isFinite(declared) && res.headers.has("content-length") ? declared : undefined,
  });
}

export async function readTextLimited(
  res: Response,
  maxBytes: number,
  what: string,
  limitSetting?: string,
): Promise<string> {
  return new TextDecoder().decode(await readBodyLimited(res, maxBytes, what, limitSetting));
}
