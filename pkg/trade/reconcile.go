package trade

import "time"

// ReconcileStatus is how a day's reconciliation with WeChat Pay's bill
// came out.
type ReconcileStatus string

// The reconciliation statuses.
const (
	ReconcileMatched       ReconcileStatus = "MATCHED"
	ReconcilePending       ReconcileStatus = "PENDING" // the bill is not ready; tried again later
	ReconcileDiscrepancies ReconcileStatus = "DISCREPANCIES"
	ReconcileNoBill        ReconcileStatus = "NO_BILL"
	ReconcileBillInvalid   ReconcileStatus = "BILL_INVALID"
)

// DiscrepancyKind names a difference between the bill and the store.
type DiscrepancyKind string

// The discrepancy kinds (DESIGN: "Reconciliation with WeChat Pay's bills").
const (
	MissedPayment        DiscrepancyKind = "MISSED_PAYMENT" // paid in the bill, not in the store: fixed after a verified query
	MissedRefund         DiscrepancyKind = "MISSED_REFUND"  // refunded in the bill, PROCESSING in the store: fixed likewise
	UnknownOrder         DiscrepancyKind = "UNKNOWN_ORDER"  // never seen by the store: reported, not adopted
	UnknownRefund        DiscrepancyKind = "UNKNOWN_REFUND"
	AmountMismatch       DiscrepancyKind = "AMOUNT_MISMATCH"
	RefundAmountMismatch DiscrepancyKind = "REFUND_AMOUNT_MISMATCH"
	MissingInBill        DiscrepancyKind = "MISSING_IN_BILL" // paid in the store that day, absent from the bill
	BillInvalid          DiscrepancyKind = "BILL_INVALID"    // the bill could not be read or does not add up
)

// Discrepancy is one difference, as the report lists it.
type Discrepancy struct {
	Kind        DiscrepancyKind `json:"kind"`
	OutTradeNo  string          `json:"out_trade_no"`
	OutRefundNo string          `json:"out_refund_no"`
	Bill        string          `json:"bill"`  // what the bill says
	Store       string          `json:"store"` // what the store says
	Fixed       bool            `json:"fixed"`
}

// Report is a day's reconciliation.
type Report struct {
	Date     string          `json:"date"` // the China day, 2006-01-02
	Status   ReconcileStatus `json:"status"`
	Payments struct {
		Count    int   `json:"count"`
		TotalFee int64 `json:"total_fee"`
	} `json:"payments"`
	Refunds struct {
		Count     int   `json:"count"`
		RefundFee int64 `json:"refund_fee"`
	} `json:"refunds"`
	Discrepancies []Discrepancy `json:"discrepancies"`
}

// Reconciliation is a stored report and when the sweep may try the day
// again (a bill that was not ready).
type Reconciliation struct {
	Report  Report
	RetryAt time.Time // zero when the day is done
}
