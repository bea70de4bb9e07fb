/** `weave status peers` and `weave rmpeer NAME`: the cluster as this host sees it. */
import type { ClusterStatus } from "../cluster/index.js";
import { WeaveError } from "../core/index.js";
import { callDaemon } from "./control-client.js";
import { printJson, printLines, table } from "./output.js";

function ago(ms: number, now: number): string {
  if (ms === 0) return "-";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

export async function statusPeers(socket: string, json: boolean): Promise<number> {
  const s = await callDaemon<ClusterStatus>(socket, "GET", "/peers");
  if (json) return printJson(s);
  const now = Date.now();
  const store = s.store.reachable
    ? `${s.store.url} (reachable)`
    : `${s.store.url} (UNREACHABLE${s.store.error ? `: ${s.store.error}` : ""}; running on the last known state)`;
  const lines = [
    `   This host: ${s.name} (${s.address})${s.registered ? "" : " - not registered yet"}`,
    `       Store: ${store}`,
    "",
    table(
      ["PEER", "ADDRESS", "STATE", "LAST SEEN"],
      s.peers.map((p) => [p.name, p.address, p.state, ago(p.lastSeen, now)]),
    ),
  ];
  for (const c of s.conflicts) lines.push("", `WARNING: ${c}`);
  return printLines(lines);
}

export async function rmpeer(socket: string, args: readonly string[]): Promise<number> {
  const [name, ...extra] = args;
  if (!name || name.startsWith("-") || extra.length > 0) {
    throw new WeaveError("WEAVE_BAD_REQUEST", "Usage: weave rmpeer NAME (a host that is gone for good)");
  }
  const res = await callDaemon<{ peer: string; blocksReleased: number }>(socket, "POST", "/rmpeer", 30_000, {
    name,
  });
  return printLines([`removed peer ${res.peer}: ${res.blocksReleased} address block(s) released`]);
}
