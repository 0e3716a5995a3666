// Prints, as JSON, the deployment files parsed for the tests to inspect: every object of the YAML files under k8s/
// (with its file, relative to the repository root) and docker-compose.yml as written (anchors merged, variables not
// interpolated). Usage: node deploy-files.mjs <repository root>
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { parse, parseAllDocuments } from "yaml";

const root = process.argv[2];
const yamlFiles = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []);

const k8s = [];
for (const file of yamlFiles(join(root, "k8s")).sort())
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = document.toJS();
    if (object) k8s.push({ file: relative(root, file), object });
  }
const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
console.log(JSON.stringify({ k8s, compose }));
