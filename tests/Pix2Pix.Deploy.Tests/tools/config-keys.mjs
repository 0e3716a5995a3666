// Prints, as JSON, every environment variable the deployment files hand to the API and Worker containers:
// compose (api, worker, worker-cpu), the ConfigMap, the Deployments' env, the dev patches and the Dockerfiles' ENV.
// Usage: node config-keys.mjs <repository root>
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";

const root = process.argv[2];
const sources = {};
const add = (source, keys) => { (sources[source] ??= []).push(...keys); };

const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
for (const name of ["api", "worker", "worker-cpu"]) add(`docker-compose.yml ${name}`, Object.keys(compose.services[name].environment ?? {}));

const yamlFiles = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []);
for (const file of yamlFiles(join(root, "k8s"))) {
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = document.toJS();
    if (object?.kind === "ConfigMap" && object.metadata?.name === "pix2pix-config") add(`${file} ConfigMap`, Object.keys(object.data ?? {}));
    if (object?.kind === "Deployment")
      for (const container of object.spec.template.spec.containers) add(`${file} ${container.name}`, (container.env ?? []).map((e) => e.name));
    if (object?.kind === "Kustomization")
      for (const patch of object.patches ?? [])
        if (patch.target?.name === "pix2pix-config")
          add(`${file} patch`, parse(patch.patch).map((op) => op.path.replace(/^\/data\//, "")));
  }
}

for (const dockerfile of ["Dockerfile", "Dockerfile.gpu"]) {
  const text = readFileSync(join(root, dockerfile), "utf8").replace(/\\\n/g, " ");
  for (const line of text.split("\n").filter((l) => /^ENV\s/.test(l)))
    add(dockerfile, [...line.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]));
}
console.log(JSON.stringify(sources));
