// Package payment holds the use cases of the function: pay, read and close
// an order, handle WeChat Pay's notifications, refund, deliver the events of
// every change to the merchant's business, and sweep (find what WeChat Pay
// never told us). It turns requests that are already parsed and identities
// that are already verified into calls of WeChat Pay (v2 or v3, through a
// Gateway) and a trade.Store; failures are *Error values with stable codes.
package payment

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wxpay-scf/wxpay-scf/pkg/miniprogram"
	"github.com/wxpay-scf/wxpay-scf/pkg/trade"
)

// Service serves one merchant and mini-program.
type Service struct {
	AppID       string              // the mini-program's, whose rows of a bill are judged
	MchID       string              // the merchant's
	WeChat      Gateway             // WeChat Pay, v2 or v3
	Login       *miniprogram.Client // nil when no AppSecret is configured
	Store       trade.Store
	NotifyURL   string
	DefaultBody string
	Now         func() time.Time // nil means time.Now
	// StateChanged hears of every change of an order's state that a call
	// made, exactly once (it is the audit trail); nil means nobody listens.
	StateChanged func(ctx context.Context, outTradeNo string, from, to trade.State)
	// RefundChanged is the same for refunds.
	RefundChanged func(ctx context.Context, outRefundNo string, from, to trade.RefundState)

	// Target delivers events to the merchant's webhook or function; nil
	// records them for the pull API only.
	Target Sender
	// OrderTTL is how long an order can be paid (sent as time_expire); 0
	// means DefaultOrderTTL.
	OrderTTL time.Duration
	// MinCloseAge is how old an order must be before WeChat Pay lets it be
	// closed (5 minutes on API v2).
	MinCloseAge time.Duration
	// Prices, when set, decides what an order costs (see PriceList).
	Prices *PriceList
	// Log hears what no caller waits for: failed deliveries, events given
	// up. nil discards.
	Log *slog.Logger
}

// DefaultOrderTTL is how long an order can be paid when OrderTTL is unset.
const DefaultOrderTTL = 2 * time.Hour

func (s *Service) orderTTL() time.Duration {
	if s.OrderTTL > 0 {
		return s.OrderTTL
	}
	return DefaultOrderTTL
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Result is the answer to the mini-program: the order number and exactly
// the five wx.requestPayment parameters.
type Result struct {
	OutTradeNo string    `json:"out_trade_no"`
	Data       PayParams `json:"data"`
}

// prepayLifetime is how long a prepay_id may be reused, with a margin
// under WeChat Pay's two hours.
const prepayLifetime = 2*time.Hour - 10*time.Minute

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// OpenID exchanges a wx.login code for the user's openid.
func (s *Service) OpenID(ctx context.Context, code string) (string, error) {
	if code == "" {
		return "", &Error{Kind: Unauthenticated, Code: "UNAUTHENTICATED", Message: "no identity: send a fresh wx.login code or a login token"}
	}
	if s.Login == nil {
		return "", &Error{Kind: Config, Code: "CONFIG_ERROR", Message: "WXPAY_APPSECRET is not set, so login codes cannot be exchanged"}
	}
	sess, err := s.Login.Code2Session(ctx, code)
	if err != nil {
		return "", fromLogin(err)
	}
	return sess.OpenID, nil
}

// Pay resolves the payer, records the order, creates it at WeChat Pay with a
// fresh out_trade_no, and signs the pay parameters from the verified answer.
// With a request_id, the same user gets the same order back, never a second.
func (s *Service) Pay(ctx context.Context, r PayRequest) (*Result, error) {
	if err := s.Quote(&r); err != nil {
		return nil, err
	}
	openid := r.OpenID
	if openid == "" {
		var err error
		if openid, err = s.OpenID(ctx, r.Code); err != nil {
			return nil, err
		}
	}
	no, err := s.WeChat.NewOutTradeNo()
	if err != nil {
		return nil, &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
	}
	body := r.Description
	if body == "" {
		body = s.DefaultBody
	}
	now := s.now()
	o, created, err := s.Store.CreateOrder(ctx, trade.Order{
		OutTradeNo: no, OpenID: openid, RequestID: r.RequestID,
		TotalFee: r.TotalFee, Description: body, Attach: r.Attach, Item: r.Item, Quantity: r.Quantity,
		CreatedAt: now, ExpiresAt: now.Add(s.orderTTL()),
	})
	if err != nil {
		return nil, fromStore(err)
	}
	if !created {
		if o.TotalFee != r.TotalFee || o.Description != body || o.Attach != r.Attach || o.Item != r.Item || o.Quantity != r.Quantity {
			return nil, &Error{Kind: Conflict, Code: "REQUEST_ID_CONFLICT", Message: "this request_id was used for another amount, item or description"}
		}
		switch {
		case o.State.Paid():
			return nil, &Error{Kind: Conflict, Code: "ORDERPAID", Message: "the order for this request_id is already paid"}
		case o.State.Final():
			return nil, orderExpired(o.State)
		case o.Expired(now):
			// Never a prepay_id past the order's expiry; the sweep closes it.
			return nil, orderExpired(trade.Closed)
		case o.PrepayID != "" && now.Sub(o.CreatedAt) < prepayLifetime:
			return s.payParams(o.OutTradeNo, o.PrepayID)
		}
	}
	prepay, err := s.WeChat.Prepay(ctx, PrepayOrder{
		OutTradeNo:  o.OutTradeNo,
		Description: o.Description,
		Attach:      o.Attach,
		TotalFee:    o.TotalFee,
		OpenID:      openid,
		ClientIP:    r.ClientIP,
		NotifyURL:   s.NotifyURL,
		ExpiresAt:   o.ExpiresAt,
	})
	if err != nil {
		return nil, err
	}
	switch err := s.Store.SetPrepayID(ctx, o.OutTradeNo, prepay); {
	case errors.Is(err, trade.ErrOrderFinal):
		// Closed while WeChat Pay was creating it: hand out nothing that
		// could pay it, and close it there too (best effort: it also expires).
		_ = s.WeChat.Close(ctx, o.OutTradeNo)
		return nil, orderExpired(trade.Closed)
	case err != nil:
		return nil, fromStore(err)
	}
	return s.payParams(o.OutTradeNo, prepay)
}

// Quote settles what r costs, before anything else is done for it: from
// the price list when there is one (see PriceList), else the request's own
// total_fee. Quoting a quoted request changes nothing.
func (s *Service) Quote(r *PayRequest) error {
	if s.Prices != nil {
		if err := s.Prices.price(r); err != nil {
			return err
		}
	} else {
		r.Item, r.Quantity = "", 0 // without a price list, nothing of it counts
	}
	if r.TotalFee < 1 {
		return invalid("INVALID_TOTAL_FEE", "total_fee must be a whole number of fen, at least 1")
	}
	return nil
}

// orderExpired answers a request_id whose order ended unpaid: the
// mini-program starts a new cart with a new request_id.
func orderExpired(st trade.State) *Error {
	return &Error{Kind: Conflict, Code: "ORDER_EXPIRED", Message: "the order for this request_id is " + string(st) + "; start again with a new request_id"}
}

func (s *Service) payParams(no, prepayID string) (*Result, error) {
	params, err := s.WeChat.PayParams(prepayID)
	if err != nil {
		return nil, &Error{Kind: Internal, Code: "INTERNAL", Message: "internal error", Err: err}
	}
	return &Result{OutTradeNo: no, Data: params}, nil
}
