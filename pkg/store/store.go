// Package store keeps orders, refunds, the record of verified
// notifications, the events of their changes (an outbox) and each day's
// reconciliation with WeChat Pay's bill, in SQLite
// (embedded, the default) or MySQL (TencentDB / TDSQL-C, shared by every
// instance). Both backends run the same SQL and pass the same test suite.
// Every state change is a conditional update under its row's lock, in the
// transaction that records its event, so concurrent duplicates change an
// order exactly once and record one event.
package store
