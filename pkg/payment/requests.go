package payment

// PayRequest is a validated request for a payment (pkg/payinput produces
// it from what callers send).
type PayRequest struct {
	TotalFee    int64  // fen; 0 when not sent (an item sets it)
	Description string // "" means the default
	Attach      string
	Code        string // a wx.login code, used when no OpenID is known
	RequestID   string // optional idempotency key, unique per user
	OpenID      string // set only from a verified source
	ClientIP    string
	// Item and Quantity name what to buy from the price list (0: one).
	Item     string
	Quantity int
	// Trusted is a direct invocation: with a price list, it may still send
	// an amount of its choosing instead of an item.
	Trusted bool
}

// RefundRequest is an operator's validated refund request.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string // "" means a fresh one; a retry must send the one answered
	RefundFee   int64  // fen
	Reason      string
}
