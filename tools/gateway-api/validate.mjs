// Validates Gateway API objects, GKE's Gateway policies and its ComputeClass, one JSON manifest per file:
// node validate.mjs FILE...
// Exit status 1 when any object is invalid, printing each error.
import { readFileSync } from "node:fs";
import { Gateway } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { HealthCheckPolicy } from "@kubernetes-models/gke/networking.gke.io/v1/HealthCheckPolicy";
import { ComputeClass } from "@kubernetes-models/gke/cloud.google.com/v1/ComputeClass";

const kinds = {
  "gateway.networking.k8s.io/v1": { Gateway, HTTPRoute },
  "networking.gke.io/v1": { HealthCheckPolicy },
  "cloud.google.com/v1": { ComputeClass },
};
let failed = 0;
for (const file of process.argv.slice(2)) {
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  const model = kinds[manifest.apiVersion]?.[manifest.kind];
  if (!model) {
    console.log(`${file}: no validator for ${manifest.apiVersion} ${manifest.kind}`);
    failed++;
    continue;
  }
  try {
    new model(manifest).validate();
    console.log(`${file}: valid ${manifest.kind}`);
  } catch (error) {
    console.log(`${file}: invalid ${manifest.kind}: ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
