// Validates custom resources in rendered manifests against their CRD schemas: Istio's
// PeerAuthentication, DestinationRule and VirtualService, through the validators that
// @kubernetes-models/istio generates from Istio's own CRD OpenAPI schemas.
//   node validate-crds.mjs FILE...   exit 0: all valid; 1: a resource is invalid;
//                                    2: a custom resource of a kind it has no schema for.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication";
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";

const MODELS = {
  "security.istio.io/v1/PeerAuthentication": PeerAuthentication,
  "networking.istio.io/v1/DestinationRule": DestinationRule,
  "networking.istio.io/v1/VirtualService": VirtualService,
};
// Kinds of the core API, checked by kubernetes-validate instead.
const CORE_GROUP = /^(v1|apps\/v1|autoscaling\/v2|policy\/v1|networking\.k8s\.io\/v1|rbac\.authorization\.k8s\.io\/v1)$/;

let failed = 0;
let unknown = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (!doc) continue;
    const id = `${doc.apiVersion}/${doc.kind}`;
    const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
    const Model = MODELS[id];
    if (!Model) {
      if (!CORE_GROUP.test(doc.apiVersion)) {
        console.log(`UNKNOWN ${where}: no schema for ${id}`);
        unknown++;
      }
      continue;
    }
    try {
      new Model(doc).validate();
      checked++;
      console.log(`OK ${where}`);
    } catch (err) {
      failed++;
      console.log(`INVALID ${where}: ${err.message}`);
    }
  }
}
console.log(`${checked} valid, ${failed} invalid, ${unknown} without schema`);
process.exit(failed ? 1 : unknown ? 2 : 0);
