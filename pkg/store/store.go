// Package store keeps orders, refunds and the record of verified
// notifications, in SQLite (embedded, the default) or MySQL (TencentDB /
// TDSQL-C, shared by every instance). Both backends run the same SQL and pass
// the same test suite. Every state change is a conditional update, so
// concurrent duplicates change an order exactly once.
package store
