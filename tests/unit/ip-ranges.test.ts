import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ipInRange, ipInRanges, parseIp, parseIpRange } from "../../src/util/ip-ranges.ts";

describe("ip ranges", () => {
  test("IPv4 blocks and single addresses", () => {
    const net = parseIpRange("10.1.0.0/16");
    assert.equal(ipInRange("10.1.255.7", net), true);
    assert.equal(ipInRange("10.2.0.1", net), false);
    assert.equal(ipInRange("10.1.2.3", parseIpRange("10.1.2.3")), true);
    assert.equal(ipInRange("10.1.2.4", parseIpRange("10.1.2.3")), false);
    assert.equal(ipInRange("203.0.113.9", parseIpRange("0.0.0.0/0")), true);
  });

  test("IPv6 blocks, compressed forms, and IPv4-mapped addresses", () => {
    assert.equal(ipInRange("fd00::2", parseIpRange("fd00::/8")), true);
    assert.equal(ipInRange("fe80::1", parseIpRange("fd00::/8")), false);
    assert.equal(ipInRange("::1", parseIpRange("::1")), true);
    assert.equal(ipInRange("2001:db8:0:0:0:0:0:1", parseIpRange("2001:db8::1/128")), true);
    assert.equal(ipInRange("::ffff:127.0.0.1", parseIpRange("127.0.0.0/8")), true, "mapped address matches IPv4");
    assert.equal(ipInRange("::ffff:7f00:1", parseIpRange("127.0.0.0/8")), true);
    assert.equal(ipInRange("127.0.0.1", parseIpRange("::1/128")), false);
    assert.equal(parseIp("fe80::1%eth0")?.kind(), "ipv6");
  });

  test("refuses what is not an address or block, with the reason", () => {
    assert.throws(() => parseIpRange("10.0.0.0/33"), /prefix length must be 0-32/);
    assert.throws(() => parseIpRange("fd00::/129"), /prefix length must be 0-128/);
    assert.throws(() => parseIpRange("256.1.1.1"), /not an IPv4\/IPv6 address/);
    assert.throws(() => parseIpRange("example.com"), /not an IPv4\/IPv6 address/);
    assert.throws(() => parseIpRange("1:2:3:4:5:6:7:8:9"), /not an IPv4\/IPv6 address/);
    assert.throws(() => parseIpRange("1::2::3"), /not an IPv4\/IPv6 address/);
  });

  test("no address never matches", () => {
    assert.equal(ipInRanges(undefined, [parseIpRange("0.0.0.0/0")]), false);
    assert.equal(ipInRanges("10.0.0.1", []), false);
  });
});
