/**
 * The cluster section of the status picture: this host as a dark node on the left, every other
 * peer as a node on the right (name, address, state), and a line from this host to each peer
 * labelled with the transport (routed, vxlan), the encryption (a lock and "wireguard", a warning
 * and "mismatch", or "unencrypted"), the MTU and up or down. A path that is up is green and solid,
 * one that is down red and dashed; a peer that is gone is greyed, its line grey and dashed. The
 * problem of a path (e.g. an encryption mismatch) is written under its line and in its tooltip.
 * Pure: plain data in, SVG text out; every text from the view is escaped.
 *
 * Design note: each peer has a row of its own and its line is horizontal, so lines and labels
 * never cross however many peers there are; this host's node is as tall as all the rows.
 */
import type { PictureCluster, PicturePeer } from "./picture.js";
import { escapeXml, fit, INK, MUTED, text, textWidth } from "./svg-kit.js";

const UP = "#16a34a";
const DOWN = "#dc2626";
const GONE = "#94a3b8";
const LOCK = "#166534";

/** From the section's top to its first row, in pixels. */
const TITLE_H = 60;
const ROW = 80;
const NODE_H = 64;
const PAD = 24;
const SELF_W = 280;
const PEER_W = 300;
const LABEL_SIZE = 13;
const SEPARATOR = " · ";
/** Room for the encryption's glyph at the left of a link's label. */
const GLYPH_W = 15;

type PathState = "up" | "down" | "gone";

const STATE_COLOUR: Record<PathState, string> = { up: UP, down: DOWN, gone: GONE };

/** Gone when the peer left; up when it is alive and its path carries traffic (or says nothing). */
function pathState(p: PicturePeer): PathState {
  if (p.state === "gone") return "gone";
  return p.state === "alive" && (p.up ?? true) ? "up" : "down";
}

interface LabelPart {
  text: string;
  cls: string;
  fill: string;
  glyph?: "lock" | "warning";
}

/** How the label shows an encryption (`weave status peers --json` values); undefined: not shown. */
function encryptionPart(encryption: string | null | undefined): LabelPart | undefined {
  switch (encryption) {
    case undefined:
    case null:
    case "":
      return undefined;
    case "wireguard":
      return { text: "wireguard", cls: "link-encryption", fill: LOCK, glyph: "lock" };
    case "mismatch":
      return { text: "mismatch", cls: "link-encryption", fill: DOWN, glyph: "warning" };
    case "none":
      return { text: "unencrypted", cls: "link-encryption", fill: MUTED };
    default:
      return { text: encryption, cls: "link-encryption", fill: MUTED };
  }
}

function labelParts(p: PicturePeer, state: PathState): LabelPart[] {
  const parts: LabelPart[] = [];
  if (state !== "gone") {
    // null: the path is not programmed (yet); undefined: transports not reported at all.
    if (p.transport !== undefined)
      parts.push({ text: p.transport ?? "no path", cls: "link-transport", fill: INK });
    const enc = encryptionPart(p.encryption);
    if (enc) parts.push(enc);
    if (typeof p.mtu === "number") parts.push({ text: `MTU ${p.mtu}`, cls: "link-mtu", fill: MUTED });
  }
  parts.push({ text: state, cls: "link-state", fill: STATE_COLOUR[state] });
  return parts;
}

/** A small glyph whose left edge is `x`, on a text baseline `y`. */
function glyph(kind: "lock" | "warning", x: number, y: number, colour: string): string {
  if (kind === "lock")
    return (
      `<path d="M${x + 2.5} ${y - 7} v-2.5 a3 3 0 0 1 6 0 v2.5" fill="none" stroke="${colour}" stroke-width="1.6"/>` +
      `<rect x="${x}" y="${y - 7}" width="11" height="8" rx="1.5" fill="${colour}"/>`
    );
  return (
    `<path d="M${x + 5.5} ${y - 11} L${x + 11} ${y + 1} H${x} Z" fill="${colour}"/>` +
    `<path d="M${x + 5.5} ${y - 6.5} v3.5" stroke="#ffffff" stroke-width="1.6"/>`
  );
}

/**
 * The label of a link, a pill centred at (`cx`, `y`): the encryption's glyph, then one text whose
 * parts are tspans (the browser spaces them; only the pill's width is estimated).
 */
function linkLabel(parts: readonly LabelPart[], cx: number, y: number, colour: string): string[] {
  const sign = parts.find((p) => p.glyph);
  const glyphW = sign ? GLYPH_W : 0;
  const all = parts.map((p) => p.text).join(SEPARATOR);
  const width = Math.round(textWidth(all, LABEL_SIZE) + glyphW + 28);
  const x = Math.round(cx - width / 2);
  const spans = parts.map((p) => {
    const bold = p.cls === "link-state" ? ` font-weight="bold"` : "";
    return `<tspan class="${p.cls}" fill="${p.fill}"${bold}>${escapeXml(p.text)}</tspan>`;
  });
  const out = [
    `<rect x="${x}" y="${y - 13}" width="${width}" height="26" rx="13" fill="#ffffff" stroke="${colour}" stroke-width="1.5"/>`,
  ];
  if (sign?.glyph) out.push(glyph(sign.glyph, x + 13, y + 5, sign.fill));
  out.push(
    `<text x="${x + 14 + glyphW + (width - 28 - glyphW) / 2}" y="${y + 5}" font-size="${LABEL_SIZE}" fill="${MUTED}" text-anchor="middle" class="link-label">` +
      `${spans.join(SEPARATOR)}</text>`,
  );
  return out;
}

/** The tooltip of a link: everything known about the path, and its problem. */
function linkTitle(self: string, p: PicturePeer, state: PathState): string {
  const facts =
    state === "gone"
      ? ["the peer is gone"]
      : [
          ...(p.transport !== undefined ? [`transport ${p.transport ?? "not programmed yet"}`] : []),
          ...(p.encryption ? [`encryption ${p.encryption}`] : []),
          ...(typeof p.mtu === "number" ? [`MTU ${p.mtu}`] : []),
          ...(typeof p.handshakeAgeS === "number" ? [`last handshake ${p.handshakeAgeS} s ago`] : []),
          state,
        ];
  const problem = p.problem ? `\n${p.problem}` : "";
  return `${self} → ${p.name} (${p.address}): ${facts.join(", ")}${problem}`;
}

/** The line from this host's node (right edge `x1`) to a peer's node (left edge `x2`) at `y`. */
function link(self: string, p: PicturePeer, x1: number, x2: number, y: number): string {
  const state = pathState(p);
  const colour = STATE_COLOUR[state];
  const dash = state === "up" ? "" : ` stroke-dasharray="9 6"`;
  const parts = [
    `<g class="peer-link" data-peer="${escapeXml(p.name)}" data-transport="${escapeXml(p.transport ?? "")}" data-encryption="${escapeXml(p.encryption ?? "")}" data-state="${state}">`,
    `<title>${escapeXml(linkTitle(self, p, state))}</title>`,
    `<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" stroke="${colour}" stroke-width="3"${dash}/>`,
    `<circle cx="${x2}" cy="${y}" r="4.5" fill="#ffffff" stroke="${colour}" stroke-width="2.5"/>`,
    ...linkLabel(labelParts(p, state), (x1 + x2) / 2, y, colour),
  ];
  if (p.problem && state !== "gone")
    parts.push(
      text((x1 + x2) / 2, y + 30, fit(p.problem, x2 - x1 - 24, 12), {
        size: 12,
        fill: DOWN,
        anchor: "middle",
        cls: "link-problem",
      }),
    );
  parts.push(`</g>`);
  return parts.join("");
}

/** A peer's node at (`x`, `top`): its name, state and address; greyed when gone. */
function peerNode(p: PicturePeer, x: number, top: number): string {
  const state = pathState(p);
  const colour = STATE_COLOUR[state];
  const gone = state === "gone";
  const seen = p.lastSeen ? `, last seen ${new Date(p.lastSeen).toISOString()}` : "";
  const version = p.version ? `, weave ${p.version}` : "";
  return [
    `<g class="peer" data-peer="${escapeXml(p.name)}" data-state="${state}"${gone ? ` opacity="0.6"` : ""}>`,
    `<title>${escapeXml(`peer ${p.name} (${p.address}): ${state}${version}${seen}`)}</title>`,
    `<rect x="${x}" y="${top}" width="${PEER_W}" height="${NODE_H}" rx="10" fill="${gone ? "#f1f5f9" : "#ffffff"}" stroke="${colour}" stroke-width="2"${gone ? ` stroke-dasharray="6 4"` : ""}/>`,
    text(x + 16, top + 27, fit(p.name, PEER_W - 90, 15, true), {
      size: 15,
      bold: true,
      fill: gone ? MUTED : INK,
      cls: "peer-name",
    }),
    text(x + PEER_W - 16, top + 27, state, {
      size: 13,
      bold: true,
      fill: colour,
      anchor: "end",
      cls: "peer-state",
    }),
    text(x + 16, top + 48, fit(p.address, PEER_W - 32, 12, false, true), {
      size: 12,
      mono: true,
      fill: MUTED,
      cls: "peer-address",
    }),
    `</g>`,
  ].join("");
}

/** This host's node: as tall as `height`, dark, with its name and address. */
function selfNode(c: PictureCluster, x: number, top: number, height: number): string {
  return [
    `<g class="cluster-self" data-peer="${escapeXml(c.name)}">`,
    `<title>${escapeXml(`this host: ${c.name} (${c.address})`)}</title>`,
    `<rect x="${x}" y="${top}" width="${SELF_W}" height="${height}" rx="10" fill="${INK}"/>`,
    text(x + 16, top + 20, "this host", { size: 11, fill: "#94a3b8" }),
    text(x + 16, top + 40, fit(c.name, SELF_W - 32, 16, true), {
      size: 16,
      bold: true,
      fill: "#f8fafc",
      cls: "peer-name",
    }),
    text(x + 16, top + 57, fit(c.address, SELF_W - 32, 12, false, true), {
      size: 12,
      mono: true,
      fill: "#cbd5e1",
      cls: "peer-address",
    }),
    `</g>`,
  ].join("");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The section's title line: how many peers, how many up, and this host's encryption. */
function summary(c: PictureCluster, peers: readonly PicturePeer[]): string {
  const up = peers.filter((p) => pathState(p) === "up").length;
  const gone = peers.filter((p) => pathState(p) === "gone").length;
  const enc = c.encryption
    ? c.encryption.enabled
      ? `encryption: wireguard${c.encryption.implementation ? ` (${c.encryption.implementation})` : ""}`
      : "encryption: off"
    : "";
  return [
    plural(peers.length, "peer"),
    `${up} up`,
    ...(gone > 0 ? [`${gone} gone`] : []),
    ...(enc ? [enc] : []),
  ].join("  ·  ");
}

/**
 * The cluster section at (`x`, `y`), `width` pixels wide; returns its SVG and height. The peers
 * are those of `cluster` but this host, in their order with the gone ones last.
 */
export function clusterSection(
  cluster: PictureCluster,
  x: number,
  y: number,
  width: number,
): { svg: string; height: number } {
  const peers = cluster.peers.filter((p) => p.state !== "self" && p.name !== cluster.name);
  const ordered = [...peers.filter((p) => p.state !== "gone"), ...peers.filter((p) => p.state === "gone")];
  const rows = Math.max(1, ordered.length);
  const rowsTop = y + TITLE_H;
  const nodesH = rows * ROW - (ROW - NODE_H);
  const height = TITLE_H + nodesH + PAD;
  const selfX = x + PAD;
  const peerX = x + width - PAD - PEER_W;
  const parts = [
    `<g class="cluster" data-cluster-peers="${ordered.length}">`,
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" rx="16" fill="#f8fafc" stroke="#94a3b8" stroke-width="1.5"/>`,
    text(x + PAD, y + 36, "cluster", { size: 20, bold: true }),
    text(x + PAD + 90, y + 36, fit(summary(cluster, ordered), width - 2 * PAD - 90, 14), {
      size: 14,
      fill: MUTED,
      cls: "cluster-summary",
    }),
    selfNode(cluster, selfX, rowsTop, nodesH),
  ];
  if (ordered.length === 0)
    parts.push(
      text(peerX + PEER_W / 2, rowsTop + NODE_H / 2 + 5, "no other peer yet", {
        size: 14,
        fill: MUTED,
        italic: true,
        anchor: "middle",
      }),
    );
  ordered.forEach((p, i) => {
    const top = rowsTop + i * ROW;
    parts.push(link(cluster.name, p, selfX + SELF_W, peerX, top + NODE_H / 2), peerNode(p, peerX, top));
  });
  parts.push(`</g>`);
  return { svg: parts.join("\n"), height };
}
