/**
 * The status picture: this host as a box, each weave network as a coloured bar (its bridge) with
 * its name and subnets, each container as a card hanging off its network's bar with its name and
 * addresses, and badges for Docker, weaveDNS and the peers; in a cluster, the peers and the path to
 * each above it (cluster-svg.ts). Pure: a view in, SVG text out.
 *
 * Design note: the layout is computed here, with no browser to measure text, so widths are
 * estimated from character counts (generously) and long texts are cut with an ellipsis; the full
 * text is always in a <title> (a tooltip). Containers sit in rows of up to six under their bar;
 * the first row hangs straight down, later rows branch off a trunk in the gap left of their card,
 * so no line crosses a card however many rows there are.
 */
import { clusterSection } from "./cluster-svg.js";
import type { PictureContainer, PictureDns, PictureNetwork, StatusPicture } from "./picture.js";
import { escapeXml, fit, FONT, INK, MUTED, text, textWidth } from "./svg-kit.js";

export { escapeXml } from "./svg-kit.js";

export const PICTURE_WIDTH = 1280;

const PALETTE = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#dc2626", "#0891b2", "#db2777", "#65a30d"];

const HEADER_H = 72;
const HOST_X = 24;
/** Where the first box under the header starts: the cluster section, else the host box. */
const HEADER_Y = HEADER_H + 24;
const HOST_W = PICTURE_WIDTH - 2 * HOST_X;
const BAR_X = HOST_X + 24;
const BAR_W = HOST_W - 48;
const BAR_H = 44;
const CARD_W = 176;
const CARD_GAP = 20;
const CARD_X0 = BAR_X + 24;
const COLUMNS = Math.floor((BAR_W - 24 + CARD_GAP) / (CARD_W + CARD_GAP));

/** A rounded pill with a coloured dot; returns its SVG and width. `x` is its right edge. */
function badge(right: number, y: number, label: string, color: string, tint: string, tip: string) {
  const width = Math.round(textWidth(label, 13) + 38);
  const x = right - width;
  const svg =
    `<g class="badge"><title>${escapeXml(tip)}</title>` +
    `<rect x="${x}" y="${y}" width="${width}" height="30" rx="15" fill="${tint}"/>` +
    `<circle cx="${x + 17}" cy="${y + 15}" r="5" fill="${color}"/>` +
    text(x + 29, y + 20, label, { size: 13, fill: "#f8fafc" }) +
    `</g>`;
  return { svg, width };
}

function dockerBadge(docker: StatusPicture["status"]["docker"]): [string, string, string, string] {
  switch (docker.status) {
    case "reachable":
      return ["Docker reachable", "#22c55e", "#14532d", "Docker answers on its API socket"];
    case "unreachable":
      return ["Docker unreachable", "#ef4444", "#7f1d1d", `Docker is unreachable: ${docker.error}`];
    default:
      return [`Docker ${docker.status}`, "#f59e0b", "#78350f", "Docker has not been asked yet"];
  }
}

function dnsBadge(dns: PictureDns | null): [string, string, string, string] {
  if (!dns) return ["DNS off", "#94a3b8", "#334155", "weaveDNS is off (--no-dns)"];
  const names = `${dns.entries} ${dns.entries === 1 ? "name" : "names"}`;
  if (dns.error !== "") return [`DNS ${dns.domain} · error`, "#f59e0b", "#78350f", `weaveDNS: ${dns.error}`];
  return [
    `DNS ${dns.domain} · ${names}`,
    "#22c55e",
    "#14532d",
    `weaveDNS answers for ${dns.domain} on ${dns.addresses.join(", ") || "no address yet"}`,
  ];
}

function peersBadge(peers: StatusPicture["peers"]): [string, string, string, string] {
  const up = peers.filter((p) => p.state === "up").length;
  const label = `Peers ${up}/${peers.length} up`;
  const tip = peers.map((p) => `${p.name}: ${p.state}`).join(", ") || "no peers";
  return up === peers.length ? [label, "#38bdf8", "#0c4a6e", tip] : [label, "#f59e0b", "#78350f", tip];
}

function header(view: StatusPicture): string {
  const parts = [
    `<rect x="0" y="0" width="${PICTURE_WIDTH}" height="${HEADER_H}" fill="${INK}"/>`,
    // A small mark: three interlaced strands.
    `<g fill="none" stroke-width="4" stroke-linecap="round">` +
      `<path d="M24 26 Q36 46 48 26 T72 26" stroke="#38bdf8"/>` +
      `<path d="M24 36 Q36 56 48 36 T72 36" stroke="#22c55e"/>` +
      `<path d="M24 46 Q36 66 48 46 T72 46" stroke="#f59e0b"/></g>`,
    `<text x="88" y="45" font-size="28" font-weight="bold" fill="#f8fafc">weave` +
      `<tspan dx="14" font-size="16" font-weight="normal" fill="#94a3b8">${escapeXml(
        fit(`${view.hostname} · v${view.status.version}`, 380, 16),
      )}</tspan></text>`,
  ];
  let right = PICTURE_WIDTH - 24;
  for (const [label, color, tint, tip] of [
    peersBadge(view.peers),
    dnsBadge(view.dns),
    dockerBadge(view.status.docker),
  ]) {
    const b = badge(right, 21, fit(label, 300, 13), color, tint, tip);
    parts.push(b.svg);
    right -= b.width + 12;
  }
  return parts.join("\n");
}

/** An address without its prefix length (`10.32.0.2/24` -> `10.32.0.2`): the bar shows the subnet. */
function plainIp(ip: string): string {
  return ip.split("/")[0] ?? ip;
}

function containerLabel(c: PictureContainer): string {
  if (c.container !== "") return c.container;
  return `endpoint ${c.endpoint}`;
}

/** Which network a `weave ps` row belongs to: by name, else by the ID's first 12 characters. */
function belongsTo(c: PictureContainer, n: PictureNetwork): boolean {
  return (n.name !== "" && c.network === n.name) || c.network === n.id.slice(0, 12);
}

/** A network's bar at `y`: its name, subnets, bridge and gateway, and pills (containers, internal, DNS). */
function networkBar(
  n: PictureNetwork,
  name: string,
  count: number,
  color: string,
  dns: PictureDns | null,
  y: number,
): string[] {
  const parts = [`<rect x="${BAR_X}" y="${y}" width="${BAR_W}" height="${BAR_H}" rx="10" fill="${color}"/>`];
  const subnets = n.subnets.length > 0 ? n.subnets.join(", ") : "no subnet";
  const details = [subnets, `bridge ${n.bridge}`, ...(n.gateways[0] ? [`gateway ${n.gateways[0]}`] : [])];
  const nameText = fit(name, 300, 18, true);
  const detailWidth = BAR_W - 36 - textWidth(nameText, 18, true) - 18 - 300;
  parts.push(
    `<text x="${BAR_X + 18}" y="${y + 28}" font-size="18" font-weight="bold" fill="#ffffff" class="network-name">` +
      `${escapeXml(nameText)}<tspan dx="16" font-size="14" font-weight="normal" fill="#ffffff" fill-opacity="0.92" class="network-subnet">` +
      `${escapeXml(fit(details.join("  ·  "), detailWidth, 14))}</tspan></text>`,
  );
  // Pills at the right end of the bar: endpoint count, internal, DNS.
  let right = BAR_X + BAR_W - 10;
  const pills = [`${count} ${count === 1 ? "container" : "containers"}`];
  if (n.internal) pills.push("internal");
  if (dns && n.gateways.some((g) => dns.addresses.includes(g))) pills.push("DNS");
  for (const label of pills) {
    const w = Math.round(textWidth(label, 12) + 20);
    right -= w;
    parts.push(
      `<rect x="${right}" y="${y + 11}" width="${w}" height="22" rx="11" fill="#ffffff" fill-opacity="0.22"/>`,
      text(right + w / 2, y + 26, label, { size: 12, fill: "#ffffff", anchor: "middle" }),
    );
    right -= 8;
  }
  return parts;
}

/**
 * The line from the bar (bottom at `barBottom`) to a card at `x`, `top`: straight down for the
 * first row, later rows from a trunk in the gap left of the card (see the module note).
 */
function cardLink(
  x: number,
  top: number,
  row: number,
  barBottom: number,
  cardH: number,
  color: string,
): string[] {
  if (row === 0) {
    const cx = x + CARD_W / 2;
    return [
      `<line x1="${cx}" y1="${barBottom}" x2="${cx}" y2="${top}" stroke="${color}" stroke-width="3"/>`,
      `<circle cx="${cx}" cy="${barBottom}" r="4.5" fill="#ffffff" stroke="${color}" stroke-width="2.5"/>`,
    ];
  }
  const tx = x - CARD_GAP / 2;
  return [
    `<path d="M${tx} ${barBottom} V${top + cardH / 2} H${x}" fill="none" stroke="${color}" stroke-width="3"/>`,
    `<circle cx="${tx}" cy="${barBottom}" r="4.5" fill="#ffffff" stroke="${color}" stroke-width="2.5"/>`,
  ];
}

/** A container's card at `x`, `top`: its name and addresses, everything in a tooltip. */
function containerCard(c: PictureContainer, x: number, top: number, cardH: number, color: string): string[] {
  const label = containerLabel(c);
  const tip = [label, c.containerId, c.ip, c.ipv6, `endpoint ${c.endpoint}`].filter((t) => t !== "");
  const parts = [
    `<g class="container" data-container="${escapeXml(label)}">`,
    `<title>${escapeXml(tip.join("\n"))}</title>`,
    `<rect x="${x}" y="${top}" width="${CARD_W}" height="${cardH}" rx="9" fill="#ffffff"/>`,
    // The coloured edge: the card's rounded left end, so it stays inside the outline.
    `<path d="M${x + 9} ${top} A9 9 0 0 0 ${x} ${top + 9} V${top + cardH - 9} A9 9 0 0 0 ${x + 9} ${top + cardH} Z" fill="${color}"/>`,
    `<rect x="${x}" y="${top}" width="${CARD_W}" height="${cardH}" rx="9" fill="none" stroke="${color}" stroke-width="2"/>`,
    text(x + 18, top + 23, fit(label, CARD_W - 28, 14, true), {
      size: 14,
      bold: true,
      cls: "container-name",
    }),
    text(x + 18, top + 44, fit(c.ip !== "" ? plainIp(c.ip) : "no IPv4", CARD_W - 28, 13, false, true), {
      size: 13,
      mono: true,
      fill: "#1e293b",
      cls: "container-ip",
    }),
  ];
  if (c.ipv6 !== "") {
    parts.push(
      text(x + 18, top + 61, fit(plainIp(c.ipv6), CARD_W - 28, 11, false, true), {
        size: 11,
        mono: true,
        fill: MUTED,
        cls: "container-ipv6",
      }),
    );
  }
  parts.push(`</g>`);
  return parts;
}

/** One network: its bar and its containers, from `y`; returns the SVG and the height used. */
function networkSection(
  n: PictureNetwork,
  containers: readonly PictureContainer[],
  color: string,
  dns: PictureDns | null,
  y: number,
): { svg: string; height: number } {
  const name = n.name !== "" ? n.name : n.id.slice(0, 12);
  const parts = [
    `<g class="network" data-network="${escapeXml(name)}">`,
    `<title>${escapeXml(`network ${name} (${n.id})`)}</title>`,
    ...networkBar(n, name, containers.length, color, dns, y),
  ];
  const barBottom = y + BAR_H;
  if (containers.length === 0) {
    parts.push(
      text(CARD_X0, barBottom + 24, "no containers", { size: 13, fill: MUTED, italic: true }),
      `</g>`,
    );
    return { svg: parts.join("\n"), height: BAR_H + 32 };
  }
  const cardH = containers.some((c) => c.ipv6 !== "") ? 70 : 56;
  const rowPitch = cardH + 20;
  const rows = Math.ceil(containers.length / COLUMNS);
  containers.forEach((c, i) => {
    const row = Math.floor(i / COLUMNS);
    const x = CARD_X0 + (i % COLUMNS) * (CARD_W + CARD_GAP);
    const top = barBottom + 28 + row * rowPitch;
    parts.push(...cardLink(x, top, row, barBottom, cardH, color), ...containerCard(c, x, top, cardH, color));
  });
  parts.push(`</g>`);
  return { svg: parts.join("\n"), height: BAR_H + 28 + rows * cardH + (rows - 1) * 20 + 8 };
}

/** The host box's content from `y`: each network and its containers (or a hint); returns the bottom. */
function hostBody(view: StatusPicture, networks: readonly PictureNetwork[], y: number) {
  const body: string[] = [];
  if (networks.length === 0) {
    body.push(
      text(PICTURE_WIDTH / 2, y + 30, "No weave network on this host yet", {
        size: 18,
        fill: MUTED,
        anchor: "middle",
      }),
      text(PICTURE_WIDTH / 2, y + 56, "docker network create -d weave --ipam-driver weave mynet", {
        size: 14,
        fill: MUTED,
        mono: true,
        anchor: "middle",
      }),
    );
    y += 80;
  }
  networks.forEach((n, i) => {
    const color = PALETTE[i % PALETTE.length] ?? INK;
    const members = view.containers.filter((c) => belongsTo(c, n));
    const section = networkSection(n, members, color, view.dns, y);
    body.push(section.svg);
    y += section.height + 26;
  });
  return { body, bottom: y };
}

/**
 * Renders the status picture as a standalone SVG document (no scripts, no external resources),
 * PICTURE_WIDTH pixels wide and as tall as its content. Every text from the view is escaped.
 * With a cluster, its section comes first, under the header; a host alone has none.
 */
export function renderStatusSvg(view: StatusPicture): string {
  const networks = [...view.status.networks].sort(
    (a, b) => (a.name || a.id).localeCompare(b.name || b.id) || a.id.localeCompare(b.id),
  );
  const cluster = view.cluster ? clusterSection(view.cluster, HOST_X, HEADER_Y, HOST_W) : undefined;
  const hostY = cluster ? HEADER_Y + cluster.height + 24 : HEADER_Y;
  const { body, bottom: hostBottom } = hostBody(view, networks, hostY + 84);
  const height = hostBottom + 44;
  const s = view.status;
  const hostDetails = [
    `weave ${s.version}`,
    `pid ${s.pid}`,
    `MTU ${s.mtu}`,
    `${networks.length} ${networks.length === 1 ? "network" : "networks"}`,
    `${view.containers.length} ${view.containers.length === 1 ? "endpoint" : "endpoints"}`,
  ].join("  ·  ");
  const title = `weave status of ${view.hostname}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PICTURE_WIDTH}" height="${height}" viewBox="0 0 ${PICTURE_WIDTH} ${height}" role="img" aria-labelledby="weave-title" font-family="${FONT}">`,
    `<title id="weave-title">${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${PICTURE_WIDTH}" height="${height}" fill="#e2e8f0"/>`,
    header(view),
    ...(cluster ? [cluster.svg] : []),
    `<g class="host" data-host="${escapeXml(view.hostname)}">`,
    `<rect x="${HOST_X}" y="${hostY}" width="${HOST_W}" height="${hostBottom - hostY}" rx="16" fill="#f8fafc" stroke="#94a3b8" stroke-width="1.5"/>`,
    `<rect x="${HOST_X + 24}" y="${hostY + 18}" width="30" height="22" rx="4" fill="none" stroke="${MUTED}" stroke-width="2"/>`,
    `<line x1="${HOST_X + 32}" y1="${hostY + 46}" x2="${HOST_X + 46}" y2="${hostY + 46}" stroke="${MUTED}" stroke-width="2"/>`,
    text(HOST_X + 66, hostY + 37, fit(`host ${view.hostname}`, 700, 20, true), { size: 20, bold: true }),
    text(HOST_X + 66, hostY + 60, hostDetails, { size: 14, fill: MUTED }),
    ...body,
    `</g>`,
    text(HOST_X, height - 16, `Updated ${view.generatedAt}`, { size: 12, fill: MUTED }),
    text(PICTURE_WIDTH - HOST_X, height - 16, "/metrics  ·  /status.json", {
      size: 12,
      fill: MUTED,
      anchor: "end",
    }),
    `</svg>`,
  ].join("\n");
}
