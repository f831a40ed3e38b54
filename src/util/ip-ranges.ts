// Address ranges (CIDR blocks or single addresses, IPv4 and IPv6) and membership tests, for settings that allow
// some client addresses (API_OPEN_STATUS_FROM). Parsing is ipaddr.js's, as in src/net/outbound.ts; IPv4-mapped IPv6
// addresses (::ffff:10.0.0.1) match IPv4 ranges.
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

export interface IpRange {
  /** The range as written in the setting. */
  text: string;
  range: [Address, number];
}

export class IpRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IpRangeError";
  }
}

/** A dotted-quad IPv4 or an IPv6 address (brackets and zone ids allowed); IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): Address | undefined {
  const bare = text.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (bare.includes(":") ? !ipaddr.IPv6.isValid(bare) : !ipaddr.IPv4.isValidFourPartDecimal(bare)) return undefined;
  return ipaddr.process(bare);
}

/** Parses `10.0.0.0/8`, `192.168.1.7`, `fd00::/8` or `::1`; throws IpRangeError with the reason. */
export function parseIpRange(text: string): IpRange {
  const trimmed = text.trim();
  const [addrText, bits, extra] = trimmed.split("/");
  const addr = extra === undefined ? parseIp(addrText) : undefined;
  if (!addr) {
    throw new IpRangeError(`'${text}' is not an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/8, fd00::/8)`);
  }
  const mapped = addr.kind() === "ipv4" && addrText.includes(":");
  const width = addr.kind() === "ipv4" ? 32 : 128;
  if (bits === undefined) return { text: trimmed, range: [addr, width] };
  const max = mapped ? 128 : width;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max || (mapped && Number(bits) < 96)) {
    throw new IpRangeError(`'${text}': the prefix length must be 0-${width}`);
  }
  return { text: trimmed, range: [addr, mapped ? Number(bits) - 96 : Number(bits)] };
}

export function ipInRange(address: string, range: IpRange): boolean {
  const addr = parseIp(address);
  if (!addr || addr.kind() !== range.range[0].kind()) return false;
  return addr.match(range.range as [typeof addr, number]);
}

export function ipInRanges(address: string | undefined, ranges: readonly IpRange[]): boolean {
  return address !== undefined && ranges.some((r) => ipInRange(address, r));
}
