// Validates every object in the given folders' YAML files against the Kubernetes API schemas (kubernetes-models)
// and KEDA's CRD schemas (@kubernetes-models/keda), offline. Exit code 1 and one line per problem when invalid.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import * as kubernetes from "kubernetes-models";
import * as keda from "@kubernetes-models/keda";

const models = new Map();
const collect = (tree) => {
  for (const value of Object.values(tree)) {
    if (typeof value === "function" && value.apiVersion && value.kind) models.set(`${value.apiVersion}/${value.kind}`, value);
    else if (value && typeof value === "object") collect(value);
  }
};
collect(kubernetes);
collect(keda);

const files = (path) => statSync(path).isDirectory()
  ? readdirSync(path).flatMap((name) => files(join(path, name)))
  : /\.ya?ml$/.test(path) ? [path] : [];

let problems = 0, checked = 0;
for (const file of process.argv.slice(2).flatMap(files)) {
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (document.errors.length) { console.log(`${file}: YAML: ${document.errors[0].message}`); problems++; continue; }
    const object = document.toJS();
    if (!object) continue;
    if (object.kind === "Kustomization") { checked++; continue; } // kustomize's own file, not an API object
    const Model = models.get(`${object.apiVersion}/${object.kind}`);
    if (!Model) { console.log(`${file}: no schema for ${object.apiVersion} ${object.kind}`); problems++; continue; }
    try {
      new Model(object).validate();
      checked++;
    } catch (error) {
      console.log(`${file}: ${object.kind} ${object.metadata?.name}: ${error.message}`);
      problems++;
    }
  }
}
console.log(`${checked} objects valid, ${problems} problem(s)`);
process.exit(problems === 0 && checked > 0 ? 0 : 1);
