// Package helm holds no code: its test renders the dptrain chart
// (deploy/helm/dptrain) with `helm template` for several value sets and
// decodes every object strictly into the Kubernetes API types (k8s.io/api),
// so that a misspelt or misplaced field fails the build instead of being
// dropped by the API server. It lives in its own package so that the
// Kubernetes types stay out of the binaries.
package helm
