// Copies the console's front-end libraries from node_modules (pinned in package-lock.json) into
// static/admin/vendor/, with their licences; the copies are committed, so running the console never needs Node.
//   node scripts/vendor.mjs
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "static", "admin", "vendor");
// [package, file in the package, name served]
const FILES = [["chart.js", "dist/chart.umd.min.js", "chart.umd.min.js"]];

mkdirSync(OUT, { recursive: true });
for (const [name, file, served] of FILES) {
  const pkg = join(ROOT, "node_modules", name);
  const version = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version;
  // No source map is served: drop the comment that would make browsers ask for one.
  const code = readFileSync(join(pkg, file), "utf8").replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n");
  writeFileSync(join(OUT, served), code);
  copyFileSync(join(pkg, "LICENSE.md"), join(OUT, `${served}.LICENSE.md`));
  console.log(`${served.padEnd(20)} ${name}@${version}`);
}
