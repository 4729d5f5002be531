// Generates src/gen/ (protobuf-es messages and service descriptors) from the contracts'
// descriptor set, gen/voka.binpb, with the buf the project's .venv brings (or $BUF, or `buf` on
// PATH) and the protoc-gen-es pinned in package-lock.json (buf.gen.web.yaml).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(web, "..");
const descriptorSet = join(root, "gen", "voka.binpb");
const venvBuf = join(root, ".venv", "bin", "buf");
const buf = process.env.BUF ?? (existsSync(venvBuf) ? venvBuf : "buf");

if (!existsSync(descriptorSet)) {
  console.error(`no descriptor set at ${descriptorSet}: run \`make gen\``);
  process.exit(2);
}
execFileSync(buf, ["generate", descriptorSet, "--template", "buf.gen.web.yaml"], {
  cwd: web,
  stdio: "inherit",
});
