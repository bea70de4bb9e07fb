/**
 * The cluster section of the status page, checked in headless Chromium inside a host of a
 * multi-host test: every peer is drawn with the transport and encryption of the path to it
 * (read from the DOM Chromium dumps), and the page renders (a screenshot). The multi-host tests
 * call checkClusterPage; the single-host status page test uses pageLinks to see there is none.
 *
 * Set WEAVE_E2E_ARTIFACTS=DIR to keep the DOM and the screenshot (DIR/cluster-<host>.html, .png).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Host } from "./harness/index.js";
import { chromiumArgs, keep } from "./chromium.js";
import { ok } from "./lib.js";
import { colourCounts, decodePng, pixelAt, pngSize } from "./png.js";

const PAGE = "http://127.0.0.1:6782/";

/** A link from this host to a peer as the page draws it. */
export interface PageLink {
  peer: string;
  /** "routed", "vxlan"; "" for a peer that is gone. */
  transport: string;
  /** "none", "wireguard", "mismatch"; "" for a peer that is gone. */
  encryption: string;
  /** "up", "down" or "gone". */
  state: string;
  /** The link's label, e.g. "vxlan · wireguard · MTU 1370 · up". */
  label: string;
  /** The problem written under the link ("" when none). */
  problem: string;
}

/** What a cluster's page must show: each peer with the transport and encryption to it. */
export interface ClusterPageExpectation {
  peers: { name: string; transport: string; encryption: string }[];
}

/** How the page writes an encryption (`weave status peers --json` value) in a link's label. */
const SHOWN: Record<string, string> = { none: "unencrypted" };

function decode(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replaceAll("&nbsp;", "\u00a0")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}

function attributes(tag: string): Map<string, string> {
  return new Map([...tag.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1] ?? "", decode(m[2] ?? "")]));
}

/** The visible text of some markup: tooltips (<title>) dropped, tags stripped, entities decoded. */
function visibleText(markup: string): string {
  return decode(markup.replace(/<title>[\s\S]*?<\/title>/g, "").replace(/<[^>]*>/g, ""));
}

/** The groups `<g class="cls" ...>...</g>` (they have no nested groups) of a DOM. */
function groups(dom: string, cls: string): { attrs: Map<string, string>; body: string }[] {
  const re = new RegExp(`<g (class="${cls}"[^>]*)>([\\s\\S]*?)</g>`, "g");
  return [...dom.matchAll(re)].map((m) => ({ attrs: attributes(m[1] ?? ""), body: m[2] ?? "" }));
}

/** The content of the <text> element of class `cls` in `markup` ("" when there is none). */
function textOf(markup: string, cls: string): string {
  return new RegExp(`<text [^>]*class="${cls}"[^>]*>([\\s\\S]*?)</text>`).exec(markup)?.[1] ?? "";
}

/** The links to peers on a status page's DOM (as `chromium --dump-dom` prints it); none on a host alone. */
export function pageLinks(dom: string): PageLink[] {
  return groups(dom, "peer-link").map(({ attrs, body }) => ({
    peer: attrs.get("data-peer") ?? "",
    transport: attrs.get("data-transport") ?? "",
    encryption: attrs.get("data-encryption") ?? "",
    state: attrs.get("data-state") ?? "",
    label: visibleText(textOf(body, "link-label")),
    problem: visibleText(textOf(body, "link-problem")),
  }));
}

/** Asserts the DOM of a status page draws each expected peer, its transport and its encryption. */
export function assertClusterDom(dom: string, expect: ClusterPageExpectation): void {
  assert.match(dom, /<g class="cluster"/, "the page has a cluster section");
  const links = pageLinks(dom);
  const nodes = groups(dom, "peer").map((g) => ({
    name: g.attrs.get("data-peer"),
    shown: visibleText(textOf(g.body, "peer-name")),
  }));
  for (const want of expect.peers) {
    const link = links.find((l) => l.peer === want.name);
    assert.ok(link, `a link to ${want.name} (links: ${links.map((l) => l.peer).join(", ") || "none"})`);
    assert.equal(link.transport, want.transport, `the transport to ${want.name}`);
    assert.equal(link.encryption, want.encryption, `the encryption to ${want.name}`);
    const words = link.label.split(" · ");
    assert.ok(
      words.includes(want.transport),
      `the link to ${want.name} says ${want.transport}: "${link.label}"`,
    );
    const shown = SHOWN[want.encryption] ?? want.encryption;
    assert.ok(words.includes(shown), `the link to ${want.name} says ${shown}: "${link.label}"`);
    // A long name is cut with an ellipsis (the full name is in the tooltip).
    const shownName = nodes.find((n) => n.name === want.name)?.shown ?? "";
    const fits =
      shownName === want.name || (shownName.endsWith("…") && want.name.startsWith(shownName.slice(0, -1)));
    assert.ok(fits, `${want.name} is drawn as a node with its name (shown: "${shownName}")`);
  }
}

/**
 * Opens the status page of `host` (its status server on 127.0.0.1:6782) in headless Chromium
 * inside the host: asserts the dumped DOM draws every expected peer with its transport and
 * encryption, and that a 1280x800 screenshot shows the page and its cluster section. May take a
 * minute (two Chromium runs, 90 s deadline each).
 */
export async function checkClusterPage(host: Host, expect: ClusterPageExpectation): Promise<void> {
  const scratch = join(host.dir, `chromium-cluster-${randomBytes(3).toString("hex")}`);
  mkdirSync(scratch, { recursive: true });
  const dump = await host.exec([...chromiumArgs(join(scratch, "profile-dom")), "--dump-dom", PAGE], {
    timeoutMs: 90_000,
  });
  const dom = ok(dump, "chromium --dump-dom");
  keep(`cluster-${host.name}.html`, Buffer.from(dom));
  assertClusterDom(dom, expect);

  const shot = join(scratch, "cluster.png");
  const res = await host.exec(
    [...chromiumArgs(join(scratch, "profile-shot")), `--screenshot=${shot}`, PAGE],
    {
      timeoutMs: 90_000,
    },
  );
  ok(res, "chromium --screenshot");
  const png = readFileSync(host.rootPath(shot));
  keep(`cluster-${host.name}.png`, png);
  assert.deepEqual(pngSize(png), { width: 1280, height: 800 });
  const image = decodePng(png);
  assert.ok(colourCounts(image).size > 50, "the screenshot is not blank");
  assert.equal(pixelAt(image, 4, 4), "#0f172a", "the header band is drawn");
  // This host's dark node, at the left of the cluster section under the header (above its text).
  assert.equal(pixelAt(image, 296, 161), "#0f172a", "the cluster section is drawn");
}
