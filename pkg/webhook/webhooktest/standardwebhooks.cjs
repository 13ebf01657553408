// Runs npm standardwebhooks, the Standard Webhooks reference implementation,
// for webhooktest.NPM, which finds the package through NODE_PATH. It reads
// one JSON request on stdin, the body in base64 so that its bytes arrive
// exactly:
//
//   {"op":"verify","secret":"whsec_…","headers":{"webhook-id":…},"body":"…"}
//     exits 0 when Webhook.verify accepts the delivery, 1 when it refuses
//     it (WebhookVerificationError), 2 on anything else;
//   {"op":"sign","secret":"whsec_…","id":"…","timestamp":<Unix s>,"body":"…"}
//     prints Webhook.sign's signature.
//
// CommonJS, because NODE_PATH does not reach ES module imports.
"use strict";
const fs = require("node:fs");

function exit(code, err) {
  process.stderr.write(`${err}\n`);
  process.exit(code);
}

// Inside try, so that a missing package exits 2, not node's 1.
let swh;
try {
  swh = require("standardwebhooks");
  const { Webhook } = swh;
  const req = JSON.parse(fs.readFileSync(0, "utf8"));
  // A Buffer, as a Node receiver gets the raw body.
  const body = Buffer.from(req.body, "base64");
  const wh = new Webhook(req.secret);
  if (req.op === "verify") {
    wh.verify(body, req.headers);
  } else if (req.op === "sign") {
    process.stdout.write(wh.sign(req.id, new Date(req.timestamp * 1000), body));
  } else {
    exit(2, `unknown op ${req.op}`);
  }
} catch (err) {
  exit(swh && err instanceof swh.WebhookVerificationError ? 1 : 2, err);
}
