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
    `  Encryption: ${encryptionLine(s.encryption)}`,
    "",
    table(
      ["PEER", "ADDRESS", "STATE", "TRANSPORT", "ENCRYPTION", "MTU", "HANDSHAKE", "LAST SEEN"],
      s.peers.map((p) => [
        p.name,
        p.address,
        p.state === "alive" && !p.up ? "alive (down)" : p.state,
        p.transport ?? "-",
        p.encryption ?? "-",
        p.mtu === null ? "-" : String(p.mtu),
        p.handshakeAgeS === null ? "-" : `${p.handshakeAgeS}s ago`,
        ago(p.lastSeen, now),
      ]),
    ),
  ];
  for (const p of s.peers) if (p.problem) lines.push("", `WARNING: ${p.name}: ${p.problem}`);
  for (const c of s.conflicts) lines.push("", `WARNING: ${c}`);
  return printLines(lines);
}

/** "wireguard (wireguard-go) on wvg1a2b3c4d, UDP 51820, public key ..." or "off". */
export function encryptionLine(e: ClusterStatus["encryption"]): string {
  if (!e.enabled) return "off";
  return `wireguard (${e.implementation ?? "starting"}) on ${e.interface ?? "-"}, UDP ${e.port ?? "-"}, public key ${e.publicKey ?? "-"}`;
}

/** `weave rotate-key`: a new key pair for this host's WireGuard device. */
export async function rotateKey(socket: string, args: readonly string[]): Promise<number> {
  if (args.length > 0) throw new WeaveError("WEAVE_BAD_REQUEST", "Usage: weave rotate-key (no arguments)");
  const res = await callDaemon<{ publicKey: string }>(socket, "POST", "/wireguard/rotate", 30_000);
  return printLines([`rotated: new public key ${res.publicKey}`]);
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
