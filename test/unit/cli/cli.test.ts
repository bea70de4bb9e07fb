import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCode } from "../../../src/core/index.js";
import { ERROR_CODES } from "../../../src/core/index.js";
import { exitCodeFor } from "../../../src/cli/exit-codes.js";
import { appendTable, printJson, printLines, table } from "../../../src/cli/output.js";

const ALL_CODES: readonly ErrorCode[] = ERROR_CODES;

void describe("exitCodeFor", () => {
  void it("maps usage errors to 2, not running to 3, permission to 4, everything else to 1", () => {
    assert.equal(exitCodeFor("WEAVE_CONFIG"), 2);
    assert.equal(exitCodeFor("WEAVE_BAD_REQUEST"), 2);
    assert.equal(exitCodeFor("WEAVE_NOT_RUNNING"), 3);
    assert.equal(exitCodeFor("WEAVE_PERMISSION"), 4);
    for (const code of ALL_CODES) {
      const n = exitCodeFor(code);
      assert.ok(Number.isInteger(n) && n >= 1 && n <= 4, `${code} -> ${n}`);
      if (!["WEAVE_CONFIG", "WEAVE_BAD_REQUEST", "WEAVE_NOT_RUNNING", "WEAVE_PERMISSION"].includes(code)) {
        assert.equal(n, 1, code);
      }
    }
  });
});

void describe("table", () => {
  void it("left-aligns columns separated by two spaces, without trailing spaces", () => {
    const out = table(
      ["NETWORK", "ID", "SUBNETS"],
      [
        ["weave", "0123456789ab", "10.32.0.0/24"],
        ["a-much-longer-name", "ab", "-"],
      ],
    );
    assert.equal(
      out,
      [
        "NETWORK             ID            SUBNETS",
        "weave               0123456789ab  10.32.0.0/24",
        "a-much-longer-name  ab            -",
      ].join("\n"),
    );
    for (const line of out.split("\n")) assert.equal(line, line.trimEnd());
  });

  void it("prints only the header when there are no rows", () => {
    assert.equal(table(["CONTAINER", "IP"], []), "CONTAINER  IP");
  });

  void it("tolerates short rows", () => {
    assert.equal(table(["A", "B"], [["x"]]), "A  B\nx");
  });
});

/** What `fn` writes to stdout, and what it returns. */
function captureStdout(fn: () => number): { out: string; code: number } {
  let out = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string) => {
    out += chunk;
    return true;
  };
  try {
    return { code: fn(), out };
  } finally {
    process.stdout.write = write;
  }
}

void describe("output", () => {
  void it("appends a table after an empty line, and nothing for no rows", () => {
    const lines = ["Domain: weave.local"];
    appendTable(lines, ["NAME", "ADDRESS"], []);
    assert.deepEqual(lines, ["Domain: weave.local"]);
    appendTable(lines, ["NAME", "ADDRESS"], [["web.weave.local.", "10.32.0.2"]]);
    assert.deepEqual(lines, [
      "Domain: weave.local",
      "",
      "NAME              ADDRESS\nweb.weave.local.  10.32.0.2",
    ]);
  });

  void it("prints lines with a newline each, nothing for none, and indented JSON; exit code 0", () => {
    assert.deepEqual(
      captureStdout(() => printLines(["a", "b"])),
      { out: "a\nb\n", code: 0 },
    );
    assert.deepEqual(
      captureStdout(() => printLines([])),
      { out: "", code: 0 },
    );
    assert.deepEqual(
      captureStdout(() => printJson({ dns: ["10.32.0.1"] })),
      { out: '{\n  "dns": [\n    "10.32.0.1"\n  ]\n}\n', code: 0 },
    );
  });
});
