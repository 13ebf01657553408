// Package scfinvoke delivers an event to another SCF function by calling
// the SCF Invoke API asynchronously (InvocationType Event, the event JSON as
// ClientContext), signed TC3-HMAC-SHA256 with the calling function's
// execution-role credentials. It uses the official tencentcloud-sdk-go
// common client for signing and sending, and owns what the SDK leaves open:
// validation of the target, a deadline on every call, one attempt per call
// (delivery is retried by its caller), no redirects, a bounded answer, and
// errors that keep Tencent Cloud's code and RequestId but no credential.
//
// Like the other protocol packages it reads no environment: the caller
// passes the credentials (on SCF, TENCENTCLOUD_SECRETID, _SECRETKEY and
// _SESSIONTOKEN) through a function that is asked again on every call, since
// a role's temporary credentials rotate while an instance lives.
//
// Invoke: https://cloud.tencent.com/document/api/583/17243
// Signature v3: https://cloud.tencent.com/document/api/213/30654
package scfinvoke
