/**
 * bench/heap-breakdown.ts: what holds the memory in a V8 heap snapshot (e.g. one bench:scale wrote
 * with WEAVE_BENCH_HEAPSNAPSHOT=DIR).
 *
 *   node --max-old-space-size=8000 --import tsx bench/heap-breakdown.ts FILE.heapsnapshot [TOP]
 *
 * Prints the heap's total, the self size per constructor, and the retained size (what would be
 * freed with it, from the dominator tree) of the largest objects, with the path of edge names
 * from a GC root, so that a structure (a mirror's Map, the zone's indexes) is named by its owner.
 * The snapshot is read as bytes, not as one JSON string: a snapshot of a large heap is bigger than
 * the longest string V8 allows.
 */
import { readFileSync } from "node:fs";

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: heap-breakdown.ts FILE.heapsnapshot [TOP]");
const TOP = Number.parseInt(topArg ?? "60", 10);
const buf = readFileSync(file);

/** Byte offset just after `marker` (searched from `from`). */
function after(marker: string, from = 0): number {
  const at = buf.indexOf(marker, from);
  if (at < 0) throw new Error(`no ${marker} in ${file}`);
  return at + marker.length;
}

/** Reads the comma-separated unsigned integers from `at` up to "]" into `out`; returns the end. */
function numbers(at: number, out: Float64Array): number {
  let i = 0;
  let v = 0;
  let inNum = false;
  for (let p = at; ; p++) {
    const c = buf[p]!;
    if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      inNum = true;
    } else {
      if (inNum) out[i++] = v;
      v = 0;
      inNum = false;
      if (c === 93) {
        if (i !== out.length) throw new Error(`expected ${out.length} numbers, read ${i}`);
        return p;
      }
    }
  }
}

const metaStart = after('"snapshot":');
const nodesAt = after('"nodes":[', metaStart);
const meta = JSON.parse(
  buf
    .subarray(metaStart, nodesAt - '"nodes":['.length)
    .toString()
    .replace(/,\s*$/, ""),
) as {
  meta: {
    node_fields: string[];
    node_types: [string[]];
    edge_fields: string[];
    edge_types: [string[]];
  };
  node_count: number;
  edge_count: number;
};
const NF = meta.meta.node_fields.length;
const EF = meta.meta.edge_fields.length;
const N = meta.node_count;
const E = meta.edge_count;
const nodes = new Float64Array(N * NF);
const edges = new Float64Array(E * EF);
const nodesEnd = numbers(nodesAt, nodes);
numbers(after('"edges":[', nodesEnd), edges);

// Strings: each JSON string parsed on its own.
const strings: string[] = [];
{
  let p = after('"strings":[', nodesEnd);
  for (;;) {
    while (buf[p] !== 34 && buf[p] !== 93) p++;
    if (buf[p] === 93) break;
    let q = p + 1;
    while (buf[q] !== 34) q += buf[q] === 92 ? 2 : 1;
    strings.push(JSON.parse(buf.subarray(p, q + 1).toString()) as string);
    p = q + 1;
  }
}

const nType = meta.meta.node_fields.indexOf("type");
const nName = meta.meta.node_fields.indexOf("name");
const nSize = meta.meta.node_fields.indexOf("self_size");
const nEdges = meta.meta.node_fields.indexOf("edge_count");
const eType = meta.meta.edge_fields.indexOf("type");
const eName = meta.meta.edge_fields.indexOf("name_or_index");
const eTo = meta.meta.edge_fields.indexOf("to_node");
const nodeTypes = meta.meta.node_types[0];
const edgeTypes = meta.meta.edge_types[0];
const WEAK = edgeTypes.indexOf("weak");
const SHORTCUT = edgeTypes.indexOf("shortcut");

const firstEdge = new Uint32Array(N + 1);
for (let i = 0; i < N; i++) firstEdge[i + 1] = firstEdge[i]! + nodes[i * NF + nEdges]!;
const target = (e: number): number => nodes.length && edges[e * EF + eTo]! / NF;
const typeOf = (i: number): string => nodeTypes[nodes[i * NF + nType]!] ?? "?";
const nameOf = (i: number): string => strings[nodes[i * NF + nName]!] ?? "?";
const selfOf = (i: number): number => nodes[i * NF + nSize]!;
const usable = (e: number): boolean => {
  const t = edges[e * EF + eType]!;
  return t !== WEAK && t !== SHORTCUT;
};
function edgeName(e: number): string {
  const t = edgeTypes[edges[e * EF + eType]!];
  const v = edges[e * EF + eName]!;
  return t === "element" || t === "hidden" ? `[${v}]` : (strings[v] ?? "?");
}

// Dominators (Lengauer-Tarjan, simple version), from node 0 (the synthetic root).
const order = new Int32Array(N).fill(-1); // dfs number
const vertex = new Int32Array(N);
const parent = new Int32Array(N);
let count = 0;
{
  const stack = new Int32Array(N);
  const next = new Uint32Array(N);
  let sp = 0;
  stack[sp++] = 0;
  order[0] = count;
  vertex[count++] = 0;
  next[0] = firstEdge[0]!;
  while (sp > 0) {
    const v = stack[sp - 1]!;
    if (next[v]! >= firstEdge[v + 1]!) {
      sp--;
      continue;
    }
    const e = next[v]!++;
    if (!usable(e)) continue;
    const w = target(e);
    if (order[w] !== -1) continue;
    order[w] = count;
    vertex[count++] = w;
    parent[w] = v;
    next[w] = firstEdge[w]!;
    stack[sp++] = w;
  }
}
// Predecessors (reachable ones only), as a CSR.
const predCount = new Uint32Array(N + 1);
for (let v = 0; v < N; v++) {
  if (order[v] === -1) continue;
  for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e++) if (usable(e)) predCount[target(e) + 1]!++;
}
for (let i = 0; i < N; i++) predCount[i + 1]! += predCount[i]!;
const preds = new Int32Array(predCount[N]!);
{
  const fill = predCount.slice();
  for (let v = 0; v < N; v++) {
    if (order[v] === -1) continue;
    for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e++) if (usable(e)) preds[fill[target(e)]!++] = v;
  }
}
const semi = new Int32Array(N);
const ancestor = new Int32Array(N).fill(-1);
const label = new Int32Array(N);
const idom = new Int32Array(N);
const bucketHead = new Int32Array(N).fill(-1);
const bucketNext = new Int32Array(N).fill(-1);
for (let i = 0; i < N; i++) {
  semi[i] = order[i]!;
  label[i] = i;
}
function evaluate(v: number): number {
  if (ancestor[v] === -1) return v;
  // Iterative path compression.
  const path: number[] = [];
  let u = v;
  while (ancestor[ancestor[u]!] !== -1) {
    path.push(u);
    u = ancestor[u]!;
  }
  for (let k = path.length - 1; k >= 0; k--) {
    const x = path[k]!;
    const a = ancestor[x]!;
    if (semi[label[a]!]! < semi[label[x]!]!) label[x] = label[a]!;
    ancestor[x] = ancestor[a]!;
  }
  return label[v]!;
}
for (let i = count - 1; i > 0; i--) {
  const w = vertex[i]!;
  for (let k = predCount[w]!; k < predCount[w + 1]!; k++) {
    const u = evaluate(preds[k]!);
    if (semi[u]! < semi[w]!) semi[w] = semi[u]!;
  }
  const s = vertex[semi[w]!]!;
  bucketNext[w] = bucketHead[s]!;
  bucketHead[s] = w;
  ancestor[w] = parent[w]!;
  const p = parent[w]!;
  for (let v = bucketHead[p]!; v !== -1; v = bucketNext[v]!) {
    const u = evaluate(v);
    idom[v] = semi[u]! < semi[v]! ? u : p;
  }
  bucketHead[p] = -1;
}
for (let i = 1; i < count; i++) {
  const w = vertex[i]!;
  if (idom[w] !== vertex[semi[w]!]) idom[w] = idom[idom[w]!]!;
}
idom[0] = 0;
const retained = new Float64Array(N);
for (let i = count - 1; i >= 0; i--) {
  const w = vertex[i]!;
  retained[w]! += selfOf(w);
  if (w !== 0) retained[idom[w]!]! += retained[w]!;
}

const MB = (b: number): string => (b / 1e6).toFixed(1);
let total = 0;
for (let i = 0; i < N; i++) total += selfOf(i);
console.log(`${file}: ${N} nodes, ${E} edges, ${MB(total)} MB self, ${MB(retained[0]!)} MB reachable`);

const byClass = new Map<string, { n: number; self: number }>();
for (let i = 0; i < N; i++) {
  if (order[i] === -1) continue;
  const t = typeOf(i);
  const k = t === "object" || t === "closure" ? nameOf(i) : `(${t})`;
  const c = byClass.get(k) ?? { n: 0, self: 0 };
  c.n++;
  c.self += selfOf(i);
  byClass.set(k, c);
}
console.log("\nself size by constructor (MB, count):");
for (const [k, c] of [...byClass].sort((a, b) => b[1].self - a[1].self).slice(0, 30))
  console.log(`  ${MB(c.self).padStart(7)}  ${String(c.n).padStart(9)}  ${k.slice(0, 80)}`);

/** The name of the edge from `from` to `to`. */
function edgeBetween(from: number, to: number): string {
  for (let e = firstEdge[from]!; e < firstEdge[from + 1]!; e++) if (target(e) === to) return edgeName(e);
  return "?";
}
function describe(i: number): string {
  const t = typeOf(i);
  return t === "object" || t === "closure" ? nameOf(i).slice(0, 60) : `(${t}) ${nameOf(i).slice(0, 40)}`;
}
/** The dominator chain of `i`, as owner.edge names. */
function chain(i: number): string {
  const parts: string[] = [];
  let v = i;
  for (let d = 0; v !== 0 && d < 8; d++) {
    const up = idom[v]!;
    parts.unshift(`${describe(up)}.${edgeBetween(up, v)}`);
    v = up;
  }
  return parts.join(" > ");
}

// The largest objects that are not inside another large one listed.
const candidates: number[] = [];
for (let i = 1; i < N; i++) if (order[i] !== -1 && retained[i]! > 1e6) candidates.push(i);
candidates.sort((a, b) => retained[b]! - retained[a]!);
console.log(`\nlargest retainers (retained MB, then the owner chain):`);
for (const i of candidates.slice(0, TOP))
  console.log(`  ${MB(retained[i]!).padStart(7)}  ${describe(i)}  <=  ${chain(i)}`);

// What the root dominates directly: objects shared by several owners (a key string in a mirror and
// an index), grouped by kind; strings by their shape (digits and hex letters folded).
const shared = new Map<string, { n: number; retained: number }>();
for (let i = 1; i < N; i++) {
  if (order[i] === -1 || idom[i] !== 0) continue;
  const t = typeOf(i);
  const k =
    t === "string" || t === "concatenated string" || t === "sliced string"
      ? `(${t}) ${nameOf(i)
          .slice(0, 48)
          .replace(/[0-9a-f]{6,}/g, "<hex>")
          .replace(/\d+/g, "N")}`
      : describe(i);
  const c = shared.get(k) ?? { n: 0, retained: 0 };
  c.n++;
  c.retained += retained[i]!;
  shared.set(k, c);
}
console.log(`\nshared (dominated by the root only), by kind (retained MB, count):`);
for (const [k, c] of [...shared].sort((a, b) => b[1].retained - a[1].retained).slice(0, 40))
  console.log(`  ${MB(c.retained).padStart(7)}  ${String(c.n).padStart(9)}  ${k}`);
