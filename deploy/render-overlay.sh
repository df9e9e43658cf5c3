#!/usr/bin/env bash
# Print an overlay's manifests with the GreenScore image replaced by IMAGE_REF (a tag or,
# as CI deploys, a digest), without editing the overlay. Needs kubectl (built-in kustomize).
#   deploy/render-overlay.sh staging ghcr.io/bank/greenscore@sha256:0123... | kubectl apply -f -
set -euo pipefail
overlay="${1:?usage: render-overlay.sh staging|production IMAGE_REF}"
ref="${2:?usage: render-overlay.sh staging|production IMAGE_REF}"
k8s="$(cd "$(dirname "$0")/k8s" && pwd)"
dir="$k8s/overlays/$overlay"
[[ -f "$dir/kustomization.yaml" ]] || { echo "render-overlay: no overlay '$overlay' in $k8s/overlays" >&2; exit 2; }

if [[ "$ref" == *@* ]]; then
  pin="    newName: ${ref%@*}
    digest: ${ref#*@}"
elif [[ "${ref##*/}" == *:* ]]; then
  pin="    newName: ${ref%:*}
    newTag: ${ref##*:}"
else
  echo "render-overlay: IMAGE_REF must carry a tag or a digest: $ref" >&2
  exit 2
fi

# kustomize takes only relative paths to other kustomizations: work beside the overlays.
work="$(mktemp -d "$k8s/.render.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The overlays already renamed `greenscore` to their registry's name; match that name.
name="$(grep -A2 -- '- name: greenscore$' "$dir/kustomization.yaml" | sed -n 's/^ *newName: *//p')"
cat >"$work/kustomization.yaml" <<KUST
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$overlay
images:
  - name: $name
$pin
KUST
kubectl kustomize "$work"
