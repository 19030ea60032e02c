import { defineConfig } from "vitest/config";

// Tauri serves ui/dist through its own protocol: relative asset paths and
// no dev-server tricks in the production build.
export default defineConfig({
  base: "./",
  clearScreen: false,
  build: { target: "safari15", outDir: "dist", emptyOutDir: true },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
