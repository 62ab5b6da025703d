// Package deploy holds no code: its tests check the deployment files beside
// them (see README.md).
//
//   - prometheus/alerts.yml passes `promtool check rules` and its unit
//     tests prometheus/alerts_test.yml pass `promtool test rules`;
//     prometheus/prometheus.yml passes `promtool check config` (skipped
//     when promtool, from Debian's prometheus package, is not on PATH).
//   - nats/nats.conf parses with the nats-server version the project
//     embeds, and an in-process server started from it enforces the
//     permission model: workers may publish only the protocol's worker
//     subjects and read, never write, the object store.
//   - docker-compose.yml and the scratch override pass
//     `docker-compose config` (skipped without docker-compose).
//   - With a Docker engine, TestComposeStack builds the scratch images and
//     runs a training job in the stack (skipped in -short mode and where no
//     engine answers).
//
// The Helm chart has its own test package, deploy/helm.
package deploy
