// Builds every browser bundle into static/<app>/dist/ (git-ignored): `npm ci && npm run build`.
// One esbuild call per bundle; to add one, add an entry to BUNDLES.
import { build } from "esbuild";

const BUNDLES = [
  // The LIFF member card (/liff/): @line/liff (npm only, no ready browser file) and, loaded
  // only in sandbox mode, @line/liff-mock.
  { name: "liff", entryPoints: { card: "frontend/liff.js" }, outdir: "static/liff/dist" },
  // The staff scanner's camera (/staff/): @zxing/browser decodes QR codes and barcodes.
  { name: "staff", entryPoints: { camera: "pos_bridge/frontend/camera.js" }, outdir: "static/staff/dist" },
  // The HQ dashboard's charts (/hq/): chart.js, only the parts the page draws.
  { name: "analytics", entryPoints: { dashboard: "analytics/frontend/dashboard.js" }, outdir: "static/analytics/dist" },
];

const watch = process.argv.includes("--watch");

for (const bundle of BUNDLES) {
  const options = {
    entryPoints: bundle.entryPoints,
    outdir: bundle.outdir,
    bundle: true,
    format: "esm",
    // Dynamic imports (the sandbox-only LIFF mock) become chunks loaded on demand.
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    minify: true,
    sourcemap: "linked",
    // LINE's in-app browser is the OS web view: iOS 15+ Safari, Android Chrome.
    target: ["es2020", "safari15", "chrome90"],
    legalComments: "linked",
    logLevel: "info",
  };
  if (watch) {
    const esbuild = await import("esbuild");
    const context = await esbuild.context(options);
    await context.watch();
  } else {
    await build(options);
  }
  console.log(`built ${bundle.name} -> ${bundle.outdir}`);
}
