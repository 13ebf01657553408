// Package webhook signs, sends and verifies event deliveries the Standard
// Webhooks way, so that a merchant's receiver can check them with any
// Standard Webhooks library (npm standardwebhooks and others) or a few
// lines of HMAC.
//
// A delivery is a POST of the event's JSON with three headers:
// webhook-id (the event id, the same on every redelivery), webhook-timestamp
// (Unix seconds of this attempt) and webhook-signature ("v1," and the base64
// HMAC-SHA256 of id + "." + timestamp + "." + body, keyed with the decoded
// secret; several space-separated during a secret rotation). The secret is
// "whsec_" and the base64 of 24 to 64 random bytes.
//
// Verification takes the raw body, a header lookup and the secret, and needs
// no net/http, so that an SCF function can check an event it was handed as
// well as an HTTP server can. [SignedHeaders] makes correctly signed test
// deliveries; package webhooktest is a receiver to send them to.
//
// Specification: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
package webhook
