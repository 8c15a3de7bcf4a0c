// Type-checks nothing (tsc does: `npx tsc -p examples/react`); bundles the example into DIR/app.js.
//   node examples/react/build.mjs --out DIR
import { build } from "esbuild";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf("--out");
const out = resolve(at > 0 ? process.argv[at + 1] : join(here, "dist"));
await build({ entryPoints: [join(here, "main.tsx")], outfile: join(out, "app.js"), bundle: true, minify: true,
              format: "esm", jsx: "automatic", target: ["es2022"], define: { "process.env.NODE_ENV": '"production"' },
              logLevel: "warning", legalComments: "linked" });
