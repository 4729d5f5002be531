import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The console is served by Envoy from dist/ (gateway/web.py): everything under assets/ with a
// content hash in its name, index.html at `/`. `npm run dev` proxies the API to a running mesh
// (`make up`, Envoy on 127.0.0.1:8080) so gRPC-Web calls stay same-origin, as in production.
const mesh = process.env.VOKA_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    // No inline data: assets, so the CSP stays strict and every file has a route.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      "^/(voka\\.|api/|v1/)": { target: mesh, changeOrigin: false, ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
