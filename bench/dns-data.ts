/** Data shared by bench:dns and its server child: the benchmark zone's hosts. */

/** The i-th benchmark host: `host<i>` with one IPv4 and one IPv6 address. */
export function benchHost(i: number): { name: string; ipv4: string; ipv6: string } {
  return { name: `host${i}`, ipv4: `10.32.${i >> 8}.${i & 255}`, ipv6: `fd00::${i.toString(16)}` };
}
