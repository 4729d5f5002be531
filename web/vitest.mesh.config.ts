import { defineConfig } from "vitest/config";

// The console's client code against a running mesh (tests/e2e/test_web_console.py runs it with
// VOKA_URL set to the mesh's Envoy): `VOKA_URL=http://127.0.0.1:8080 npm run test:mesh`.
export default defineConfig({
  test: {
    include: ["src/**/*.mesh.ts"],
    environment: "node",
    testTimeout: 120_000,
    fileParallelism: false,
  },
});
