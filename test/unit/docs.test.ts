/**
 * Keeps the user guide in step with the code: every launch flag and its WEAVE_* twin is in the
 * flag table of docs/usage.md with its default, every command of the CLI is documented, and every
 * link from README.md and between the docs points to a file (and heading) that exists.
 *
 * src/cli/main.ts runs the CLI when imported, so its commands are read from the file's text.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FLAGS } from "../../src/config/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOCS = join(ROOT, "docs");

function read(path: string): string {
  return readFileSync(join(ROOT, path), "utf8");
}

/** Markdown without fenced code blocks, where `[x](y)` is not a link. */
function withoutCodeBlocks(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
}

/** Targets of the inline links `[text](target)` of a Markdown text. */
function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  for (const m of withoutCodeBlocks(markdown).matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (m[1] !== undefined) targets.push(m[1]);
  }
  return targets;
}

/** GitHub's anchors for the headings of a Markdown text (`## A (b)` gives `a-b`). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutCodeBlocks(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = (m[1] ?? "")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/** Problems with the relative links of the Markdown file `file` (absolute path); [] when none. */
function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  const text = readFileSync(file, "utf8");
  for (const target of linkTargets(text)) {
    if (isExternal(target)) continue;
    const hash = target.indexOf("#");
    const pathPart = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? "" : decodeURIComponent(target.slice(hash + 1));
    const dest = pathPart === "" ? file : resolve(dirname(file), decodeURIComponent(pathPart));
    const where = `${relative(ROOT, file)}: (${target})`;
    if (!existsSync(dest)) {
      problems.push(`${where} points to a missing file`);
      continue;
    }
    if (anchor !== "" && dest.endsWith(".md") && !headingAnchors(readFileSync(dest, "utf8")).has(anchor)) {
      problems.push(`${where} points to a missing heading in ${relative(ROOT, dest)}`);
    }
  }
  return problems;
}

/** The `case "...":` labels of the command switch in src/cli/main.ts. */
function cliCaseLabels(): string[] {
  const labels = [...read("src/cli/main.ts").matchAll(/case\s+"([^"]+)"\s*:/g)].map((m) => m[1] ?? "");
  return labels.filter((l) => l !== "");
}

/** The command words of the "Commands:" section of the USAGE text in src/cli/main.ts. */
function usageCommands(): string[] {
  const source = read("src/cli/main.ts");
  const section = /Commands:\n([\s\S]*?)\n\n/.exec(source)?.[1] ?? "";
  return section
    .split("\n")
    .map((line) => /^\s+([a-z][a-z-]*)/.exec(line)?.[1] ?? "")
    .filter((word) => word !== "");
}

void describe("docs", () => {
  const usage = read("docs/usage.md");
  const flagRows = usage.split("\n").filter((line) => line.startsWith("| `--"));

  void it("documents every launch flag with its WEAVE_* variable and default in docs/usage.md", () => {
    assert.ok(FLAGS.length > 0);
    for (const f of FLAGS) {
      const row = flagRows.find((line) => line.startsWith(`| \`${f.flag}\``));
      assert.ok(row, `docs/usage.md has no flag table row for ${f.flag}`);
      assert.ok(row.includes(`\`${f.env}\``), `the row of ${f.flag} names ${f.env}`);
      if (f.default !== "") {
        assert.ok(row.includes(`\`${f.default}\``), `the row of ${f.flag} gives its default "${f.default}"`);
      }
    }
  });

  void it("documents no launch flag that does not exist", () => {
    const known = new Set(FLAGS.map((f) => f.flag));
    for (const row of flagRows) {
      const flag = /^\| `(--[a-z-]+)`/.exec(row)?.[1] ?? "";
      assert.ok(known.has(flag), `docs/usage.md documents unknown flag ${flag}`);
    }
  });

  void it("documents every command of src/cli/main.ts in docs/usage.md", () => {
    const labels = cliCaseLabels();
    assert.ok(labels.includes("launch"), "the case labels of src/cli/main.ts were found");
    for (const label of labels) {
      assert.ok(usage.includes(`weave ${label}`), `docs/usage.md mentions \`weave ${label}\``);
    }
    const commands = usageCommands();
    assert.ok(commands.includes("launch"), "the commands of the USAGE text were found");
    for (const command of commands) {
      assert.match(
        usage,
        new RegExp(`^#+ \`weave ${command}\\b`, "m"),
        `docs/usage.md has a section on ${command}`,
      );
    }
  });

  void it("documents the options of the USAGE text in docs/usage.md", () => {
    const source = read("src/cli/main.ts");
    const section = /export const USAGE = `([\s\S]*?)`;/.exec(source)?.[1] ?? "";
    const options = new Set([...section.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)].map((m) => m[1] ?? ""));
    assert.ok(options.size > 0, "options found in USAGE");
    for (const option of options)
      assert.ok(usage.includes(`\`${option}`), `docs/usage.md mentions ${option}`);
  });

  void it("links README.md to docs that exist", () => {
    const targets = linkTargets(read("README.md")).filter((t) => t.startsWith("docs/"));
    assert.ok(targets.length > 0, "README.md links to docs/");
    assert.deepEqual(brokenLinks(join(ROOT, "README.md")), []);
  });

  void it("has no broken relative link in docs/*.md", () => {
    const files = readdirSync(DOCS).filter((f) => f.endsWith(".md"));
    assert.ok(files.length > 0, "docs/ has Markdown files");
    assert.deepEqual(
      files.flatMap((f) => brokenLinks(join(DOCS, f))),
      [],
    );
  });

  void it("resolves headings the way GitHub does", () => {
    const anchors = headingAnchors("# A\n## Running weave (systemd, containers)\n## `weave ps`\n## A\n");
    assert.deepEqual([...anchors], ["a", "running-weave-systemd-containers", "weave-ps", "a-1"]);
  });
});
